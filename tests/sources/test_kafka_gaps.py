"""failOnDataLoss: offsets deleted by retention before they were read stop the query, or become a gap row.

The embedded broker (tansu 0.6, in-memory storage) cannot delete records: its DeleteRecords is not
implemented and retention.ms is ignored. So retention is simulated here by raising the log start the
planner sees (`_RetainedCluster`, the real broker's metadata with a higher low watermark); planning,
reading, the gap table and `siskin status` are the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql.streaming.datasource import ReadAllAvailable

from siskin.broker.tansu import EmbeddedBroker
from siskin.errors import BrokerError
from siskin.sources.kafka import KafkaRange, KafkaStreamReader, _Cluster, read_range
from siskin.sources.kafka_offsets import Flat, KafkaSourceOptions, TopicPartition
from siskin.sources.kafka_publish import publish


class _RetainedCluster(_Cluster):
    """The broker's real metadata, except that retention has moved some partitions' log start."""

    def __init__(self, options: KafkaSourceOptions, log_start: Flat) -> None:
        super().__init__(options)
        self.log_start = log_start

    def watermarks(self, partitions: Sequence[TopicPartition]) -> tuple[Flat, Flat]:
        low, high = super().watermarks(partitions)
        return {tp: max(off, self.log_start.get(tp, 0)) for tp, off in low.items()}, high


def _reader(broker: EmbeddedBroker, topic: str, **extra: str) -> KafkaStreamReader:
    options = {"bootstrap": broker.bootstrap, "subscribe": topic, **extra}
    return KafkaStreamReader(KafkaSourceOptions.parse(options))


def _plan_after_retention(reader: KafkaStreamReader, topic: str, log_start: int) -> tuple[dict, dict]:
    start = reader.initialOffset()  # the query started when the log still began at 0
    reader._cluster = _RetainedCluster(reader.options, {(topic, 0): log_start})
    return start, reader.latestOffset(start, ReadAllAvailable())


def test_data_loss_stops_the_query_naming_topic_partition_and_range_by_default(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic)
    publish((b"a-%d" % i for i in range(30)), unique_topic, embedded_broker.bootstrap)
    reader = _reader(embedded_broker, unique_topic)
    start, end = _plan_after_retention(reader, unique_topic, 12)
    with pytest.raises(BrokerError) as caught:
        reader.partitions(start, end)
    message = str(caught.value)
    assert f"{unique_topic}[0] offsets 0..11 (12 messages)" in message
    assert "failOnDataLoss" in message and "SISKIN_KAFKA__FAIL_ON_DATA_LOSS=false" in message


def test_without_fail_on_data_loss_the_gap_is_recorded_once_and_reading_goes_on(
    embedded_broker: EmbeddedBroker, unique_topic: str, tmp_path: Path
) -> None:
    from siskin.config import Settings
    from siskin.query.status import format_status, kafka_gaps

    settings = Settings(lake=tmp_path / "lake")
    gaps_uri = str(tmp_path / "lake" / "ops" / "kafka_gaps")
    embedded_broker.create_topic(unique_topic)
    publish((b"a-%d" % i for i in range(30)), unique_topic, embedded_broker.bootstrap)
    reader = _reader(
        embedded_broker,
        unique_topic,
        failOnDataLoss="false",
        gapsTable=gaps_uri,
        queryName="q1",
        appId="app-1",
    )
    start, end = _plan_after_retention(reader, unique_topic, 12)
    ranges = [r for r in reader.partitions(start, end) if isinstance(r, KafkaRange)]
    assert [(r.start, r.end) for r in ranges] == [(12, 30)]
    reader.partitions(start, end)  # Spark replays the batch after a crash: still one gap row
    values = [
        v
        for r in ranges
        for b in read_range(reader.options, r.offsets)
        for v in b.column("value").to_pylist()
    ]
    assert values == [b"a-%d" % i for i in range(12, 30)]

    gaps = DeltaTable(gaps_uri).to_pyarrow_table().to_pylist()
    assert len(gaps) == 1
    assert {
        k: gaps[0][k] for k in ("topic", "partition", "from_offset", "to_offset", "messages", "query")
    } == {
        "topic": unique_topic,
        "partition": 0,
        "from_offset": 0,
        "to_offset": 12,
        "messages": 12,
        "query": "q1",
    }
    assert gaps[0]["app_id"] == "app-1" and gaps[0]["detected_at"] is not None

    lines = kafka_gaps(settings)
    assert len(lines) == 1 and lines[0].startswith(f"{unique_topic}[0] offsets 0..11 (12 messages)")
    shown = format_status([], gaps=lines)
    assert "deleted by retention" in shown and f"{unique_topic}[0] offsets 0..11" in shown


def test_a_replay_that_finds_more_deleted_records_only_the_new_part(
    embedded_broker: EmbeddedBroker, unique_topic: str, tmp_path: Path
) -> None:
    gaps_uri = str(tmp_path / "kafka_gaps")
    embedded_broker.create_topic(unique_topic)
    publish((b"a-%d" % i for i in range(30)), unique_topic, embedded_broker.bootstrap)
    reader = _reader(embedded_broker, unique_topic, failOnDataLoss="false", gapsTable=gaps_uri, appId="app-2")
    start, end = _plan_after_retention(reader, unique_topic, 10)
    reader.partitions(start, end)
    reader._cluster = _RetainedCluster(reader.options, {(unique_topic, 0): 16})  # retention moved on
    ranges = [r for r in reader.partitions(start, end) if isinstance(r, KafkaRange)]
    assert [(r.start, r.end) for r in ranges] == [(16, 30)]
    rows = DeltaTable(gaps_uri).to_pyarrow_table().sort_by("from_offset").to_pylist()
    assert [(r["from_offset"], r["to_offset"]) for r in rows] == [(0, 10), (10, 16)]
