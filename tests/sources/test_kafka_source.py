"""The siskin_kafka Spark source against a real (embedded) broker: every alert exactly once."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from pyspark.sql.streaming.datasource import ReadAllAvailable

from siskin.broker.tansu import EmbeddedBroker
from siskin.errors import BrokerError
from siskin.sources.kafka import KafkaRange, KafkaStreamReader, read_range
from siskin.sources.kafka_offsets import KafkaSourceOptions, OffsetRange
from siskin.sources.kafka_publish import publish


def _publish(broker: EmbeddedBroker, topic: str, n: int, first: int = 0) -> None:
    publish((b"alert-%d" % i for i in range(first, first + n)), topic, broker.bootstrap, key_fn=lambda p: p)


def _stream(spark: Any, checkpoint: Path, **options: str) -> list[list[Any]]:
    """Run an availableNow query and return the rows of each micro-batch."""
    batches: list[list[Any]] = []

    def collect(df: Any, batch_id: int) -> None:
        batches.append(df.collect())

    reader = spark.readStream.format("siskin_kafka")
    for key, value in options.items():
        reader = reader.option(key, value)
    query = (
        reader.load()
        .writeStream.trigger(availableNow=True)
        .option("checkpointLocation", str(checkpoint))
        .foreachBatch(collect)
        .start()
    )
    query.awaitTermination(120)
    assert query.exception() is None
    return batches


def _keys(batches: list[list[Any]]) -> list[tuple[str, int, int]]:
    return sorted((r.topic, r.partition, r.offset) for batch in batches for r in batch)


@pytest.fixture
def stream(
    spark_session: Any, embedded_broker: EmbeddedBroker, tmp_path: Path
) -> Callable[..., list[list[Any]]]:
    """`stream(checkpoint_name, **options)` with the broker's bootstrap filled in."""

    def run(checkpoint: str = "cp", **options: str) -> list[list[Any]]:
        return _stream(spark_session, tmp_path / checkpoint, bootstrap=embedded_broker.bootstrap, **options)

    return run


def test_every_message_is_read_exactly_once(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=3)
    _publish(embedded_broker, unique_topic, 300)
    batches = stream(subscribe=unique_topic)
    keys = _keys(batches)
    assert len(keys) == len(set(keys)) == 300
    per_partition = {p: sorted(o for _, q, o in keys if q == p) for p in range(3)}
    assert all(offsets == list(range(len(offsets))) for offsets in per_partition.values())
    rows = [r for batch in batches for r in batch]
    assert sorted(r.value for r in rows) == sorted(b"alert-%d" % i for i in range(300))
    assert all(r.sent_ns is not None and r.timestamp is not None and r.key == r.value for r in rows)


def test_max_alerts_per_trigger_splits_the_backlog_into_batches(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=3)
    _publish(embedded_broker, unique_topic, 100)
    batches = stream(subscribe=unique_topic, maxAlertsPerTrigger="30", alertsPerPartition="7")
    assert [len(b) for b in batches] == [30, 30, 30, 10]
    assert len(set(_keys(batches))) == 100


def test_a_restart_reads_only_what_arrived_since_the_checkpoint(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=3)
    _publish(embedded_broker, unique_topic, 50)
    first = _keys(stream("cp", subscribe=unique_topic))
    _publish(embedded_broker, unique_topic, 20, first=50)
    second = _keys(stream("cp", subscribe=unique_topic))
    assert (len(first), len(second)) == (50, 20)
    assert not set(first) & set(second)


def test_starting_offsets_latest_skips_the_backlog(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=2)
    _publish(embedded_broker, unique_topic, 30)
    assert _keys(stream("cp", subscribe=unique_topic, startingOffsets="latest")) == []
    _publish(embedded_broker, unique_topic, 5, first=30)
    rows = [r for batch in stream("cp", subscribe=unique_topic, startingOffsets="latest") for r in batch]
    assert sorted(r.value for r in rows) == sorted(b"alert-%d" % i for i in range(30, 35))


def test_starting_offsets_json_names_offsets_per_partition(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=1)
    _publish(embedded_broker, unique_topic, 10)
    start = json.dumps({unique_topic: {"0": 7}})
    assert [k[2] for k in _keys(stream(subscribe=unique_topic, startingOffsets=start))] == [7, 8, 9]


def test_subscribe_pattern_finds_topics_created_later(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(f"{unique_topic}-ztf", partitions=2)
    embedded_broker.create_topic(f"{unique_topic}-other", partitions=1)
    _publish(embedded_broker, f"{unique_topic}-ztf", 10)
    _publish(embedded_broker, f"{unique_topic}-other", 10)
    pattern = f"{unique_topic}-(ztf|lsst)"
    first = _keys(stream("cp", subscribePattern=pattern))
    embedded_broker.create_topic(f"{unique_topic}-lsst", partitions=2)
    _publish(embedded_broker, f"{unique_topic}-lsst", 6)
    second = _keys(stream("cp", subscribePattern=pattern))
    assert {t for t, _, _ in first} == {f"{unique_topic}-ztf"} and len(first) == 10
    assert {t for t, _, _ in second} == {f"{unique_topic}-lsst"} and len(second) == 6


def test_large_payloads_survive_byte_exactly(
    stream: Callable[..., list[list[Any]]], embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=2)
    payloads = [os.urandom(50_000) for _ in range(20)] + [os.urandom(3_000_000)]
    publish(payloads, unique_topic, embedded_broker.bootstrap)
    rows = [r for batch in stream(subscribe=unique_topic) for r in batch]
    digests = sorted(hashlib.sha256(r.value).hexdigest() for r in rows)
    assert digests == sorted(hashlib.sha256(p).hexdigest() for p in payloads)


def test_batch_read_covers_the_whole_topic(
    spark_session: Any, embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=3)
    _publish(embedded_broker, unique_topic, 40)
    df = (
        spark_session.read.format("siskin_kafka")
        .option("bootstrap", embedded_broker.bootstrap)
        .option("subscribe", unique_topic)
        .load()
    )
    assert df.count() == 40


def test_a_message_without_send_header_has_null_sent_ns(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic)
    producer = Producer({"bootstrap.servers": embedded_broker.bootstrap, "batch.num.messages": 1})
    producer.produce(unique_topic, b"plain")
    producer.flush(10)
    producer.close()
    opts = KafkaSourceOptions.parse({"bootstrap": embedded_broker.bootstrap, "subscribe": unique_topic})
    (batch,) = read_range(opts, OffsetRange(unique_topic, 0, 0, 1))
    assert batch.column("value").to_pylist() == [b"plain"]
    assert batch.column("sent_ns").to_pylist() == [None]


def test_a_range_the_broker_cannot_deliver_fails_loudly(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic)
    _publish(embedded_broker, unique_topic, 3)
    opts = KafkaSourceOptions.parse(
        {"bootstrap": embedded_broker.bootstrap, "subscribe": unique_topic, "pollTimeoutS": "1"}
    )
    with pytest.raises(BrokerError, match="delivered only up to 2"):
        list(read_range(opts, OffsetRange(unique_topic, 0, 0, 5)))


def test_alerts_per_partition_splits_a_batch_into_spark_partitions(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=2)
    publish((b"x" for _ in range(25)), unique_topic, embedded_broker.bootstrap, key_fn=lambda p: None)
    opts = {"bootstrap": embedded_broker.bootstrap, "subscribe": unique_topic, "alertsPerPartition": "4"}
    reader = KafkaStreamReader(KafkaSourceOptions.parse(opts))
    start = reader.initialOffset()
    end = reader.latestOffset(start, ReadAllAvailable())
    ranges = [r for r in reader.partitions(start, end) if isinstance(r, KafkaRange)]
    assert sum(r.end - r.start for r in ranges) == 25
    assert all(r.end - r.start <= 4 for r in ranges)
    assert len(ranges) == sum(-(-n // 4) for n in end[unique_topic].values())


def test_a_tombstone_reaches_bronze_as_a_null_payload_and_silver_as_a_tombstone_reject(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    import pyarrow as pa

    from siskin.bronze.transform import kafka_received_arrow, to_bronze_table
    from siskin.config import Settings
    from siskin.silver.transform import decode_bronze

    embedded_broker.create_topic(unique_topic)
    producer = Producer({"bootstrap.servers": embedded_broker.bootstrap, "batch.num.messages": 1})
    for value in (b"before", None, b"after"):
        producer.produce(unique_topic, value)
        producer.flush(10)
    producer.close()
    opts = KafkaSourceOptions.parse({"bootstrap": embedded_broker.bootstrap, "subscribe": unique_topic})
    messages = pa.Table.from_batches(list(read_range(opts, OffsetRange(unique_topic, 0, 0, 3))))
    assert messages.column("value").to_pylist() == [b"before", None, b"after"]
    settings = Settings()
    bronze = to_bronze_table(kafka_received_arrow(messages), settings.decode)
    assert bronze.column("payload").null_count == 1 and bronze.column("payload_size").to_pylist() == [6, 0, 5]
    rejects = decode_bronze(bronze, settings)["silver.rejects"]
    offsets, codes = rejects.column("offset").to_pylist(), rejects.column("reason_code").to_pylist()
    assert dict(zip(offsets, codes, strict=True))[1] == "tombstone"


def test_consecutive_ranges_reuse_one_idle_consumer_and_a_failed_read_drops_its_own(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    """A worker reads a range per partition per micro-batch: one client serves them in turn (unassigned
    between ranges, so it fetches nothing meanwhile); a client whose read failed is closed, not kept."""
    from siskin.sources import kafka

    embedded_broker.create_topic(unique_topic)
    _publish(embedded_broker, unique_topic, 6)
    opts = KafkaSourceOptions.parse(
        {"bootstrap": embedded_broker.bootstrap, "subscribe": unique_topic, "pollTimeoutS": "1"}
    )
    key = json.dumps(kafka._consumer_conf(opts), sort_keys=True, default=str)
    kafka._IDLE.pop(key, None)
    first = pa.Table.from_batches(list(read_range(opts, OffsetRange(unique_topic, 0, 0, 3))))
    (idle,) = kafka._IDLE[key]
    assert idle.assignment() == []  # unassigned while idle
    second = pa.Table.from_batches(list(read_range(opts, OffsetRange(unique_topic, 0, 3, 6))))
    assert kafka._IDLE[key] == [idle]  # the same client, again idle
    assert first.column("offset").to_pylist() == [0, 1, 2]
    assert second.column("offset").to_pylist() == [3, 4, 5]
    again = pa.Table.from_batches(list(read_range(opts, OffsetRange(unique_topic, 0, 1, 2))))
    assert again.column("offset").to_pylist() == [1]  # an earlier offset after a later range
    with pytest.raises(BrokerError, match="delivered only up to 5"):
        list(read_range(opts, OffsetRange(unique_topic, 0, 4, 9)))
    assert kafka._IDLE[key] == []  # the failed read's client was closed, not put back
