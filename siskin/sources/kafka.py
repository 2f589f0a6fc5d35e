"""Kafka alert stream as a Spark source: `spark.readStream.format("siskin_kafka")`.

Spark's checkpoint is the only record of progress (no consumer-group commits): each micro-batch
is a set of offset ranges planned on the driver from the brokers' watermarks, and each range is
read by one task that assigns its partition and consumes exactly [start, end). A range the broker
does not deliver in full within `pollTimeoutS` fails the task rather than silently losing alerts;
a restart resumes from the checkpoint.

Options (strings):
    bootstrap            host:port[,host:port] (required)
    subscribe            comma-separated topics, or
    subscribePattern     regex over topic names (full match), re-listed every micro-batch
    startingOffsets      earliest (default) | latest | JSON {"topic": {"0": 42}} (-2 earliest, -1 latest)
    endingOffsets        batch reads only: latest (default) | JSON
    maxAlertsPerTrigger  rows per micro-batch (default: no limit); Trigger.AvailableNow reads all
    alertsPerPartition   offsets per Spark partition (default 1000)
    pollTimeoutS         seconds without progress before a read fails (default 10)
    kafka.<key>          passed to the librdkafka client (e.g. kafka.security.protocol); never a secret
    kafkaSecret.<key>    where a secret is (`env:VARIABLE` or `file:/path`), read when a client connects,
                         e.g. kafkaSecret.sasl.password=env:SISKIN_KAFKA__SASL_PASSWORD (`kafka_security`)
    failOnDataLoss       true (default): offsets deleted by retention before they were read stop the
                         query with an error; false: the gap is recorded (gapsTable) and reading goes on
    gapsTable            Delta table recording gaps (`ops.kafka_gaps`); queryName, appId label its rows
    rangesOnly           "true": emit one row per planned offset range (`RANGE_SCHEMA`) instead of
                         the messages; the consuming stage reads each range in its own task with
                         `read_ranges`, so large payloads never travel through the JVM
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import (
    DataSource,
    DataSourceReader,
    DataSourceStreamReader,
    InputPartition,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from siskin.config import KafkaSettings
from siskin.errors import BrokerError
from siskin.sources.kafka_gaps import handle_data_loss
from siskin.sources.kafka_offsets import (
    Flat,
    KafkaSourceOptions,
    OffsetRange,
    TopicPartition,
    begin_offsets,
    plan_end,
    resolve_offsets,
    split_ranges,
    to_flat,
    to_json,
)
from siskin.sources.kafka_publish import SENT_HEADER
from siskin.sources.kafka_security import resolve_secret, source_security_options

log = logging.getLogger(__name__)

ALERT_SCHEMA = StructType(
    [
        StructField("topic", StringType(), False),
        StructField("partition", IntegerType(), False),
        StructField("offset", LongType(), False),
        StructField("timestamp", TimestampType(), True),
        StructField("key", BinaryType(), True),
        StructField("value", BinaryType(), True),
        StructField("sent_ns", LongType(), True),
    ]
)
ARROW_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), False),
        pa.field("partition", pa.int32(), False),
        pa.field("offset", pa.int64(), False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("sent_ns", pa.int64()),
    ]
)
RANGE_SCHEMA = StructType(
    [
        StructField("topic", StringType(), False),
        StructField("partition", IntegerType(), False),
        StructField("start", LongType(), False),
        StructField("end", LongType(), False),
    ]
)
ROWS_PER_BATCH = 2000  # messages asked of one `consume` call, and rows of one Arrow batch at most
BYTES_PER_BATCH = 64 * 1024 * 1024  # pa.binary() offsets are int32: stay far below 2 GiB per batch


@dataclass(frozen=True)
class KafkaRange(InputPartition):
    """One Spark task's work: offsets [start, end) of one topic partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def offsets(self) -> OffsetRange:
        return OffsetRange(self.topic, self.partition, self.start, self.end)


# librdkafka warns about consumer-only keys on an admin client: keep them off it.
_CONSUMER_ONLY = (
    "group.", "enable.auto.", "auto.offset.reset", "auto.commit.", "fetch.", "max.partition.fetch.bytes",
    "isolation.level", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
    "partition.assignment.strategy", "enable.partition.eof", "check.crcs", "queued.",
)  # fmt: skip


def _client_conf(options: KafkaSourceOptions) -> dict[str, Any]:
    """librdkafka settings, with the secrets read now from where the options say they are."""
    secrets = {key: resolve_secret(key, ref) for key, ref in options.secret_refs.items()}
    return {**options.client_conf, **secrets, "bootstrap.servers": options.bootstrap}


class _Cluster:
    """Driver-side metadata: which partitions the query reads and their watermarks."""

    def __init__(self, options: KafkaSourceOptions) -> None:
        from confluent_kafka.admin import AdminClient

        self.options = options
        conf = {k: v for k, v in _client_conf(options).items() if not k.startswith(_CONSUMER_ONLY)}
        self.admin = AdminClient(conf)  # kept referenced: its futures die with it

    def partitions(self) -> list[TopicPartition]:
        timeout = self.options.poll_timeout_s
        try:
            topics = self.admin.list_topics(timeout=timeout).topics  # all topics: never auto-creates one
        except Exception as exc:
            where = self.options.bootstrap
            raise BrokerError(f"no metadata from Kafka at {where} within {timeout}s: {exc}") from exc
        found = [
            (name, part)
            for name, meta in topics.items()
            if meta.error is None and self.options.subscribed(name)
            for part in meta.partitions
        ]
        return sorted(found)

    def watermarks(self, partitions: Sequence[TopicPartition]) -> tuple[Flat, Flat]:
        """(low, high) watermarks, in one ListOffsets round trip each."""
        if not partitions:
            return {}, {}
        from confluent_kafka import TopicPartition as KafkaTP
        from confluent_kafka.admin import OffsetSpec

        result = []
        for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
            request = {KafkaTP(t, p): spec for t, p in partitions}
            futures = self.admin.list_offsets(request, request_timeout=self.options.poll_timeout_s)
            try:
                result.append({(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()})
            except Exception as exc:
                raise BrokerError(f"cannot list offsets at {self.options.bootstrap}: {exc}") from exc
        return result[0], result[1]


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches on the driver; `read` runs in the tasks."""

    def __init__(self, options: KafkaSourceOptions) -> None:
        self.options = options
        self._cluster: _Cluster | None = None  # created lazily: the reader is also pickled to tasks
        self._target: Flat | None = None
        self._latest: Flat | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cluster": None}

    @property
    def cluster(self) -> _Cluster:
        if self._cluster is None:
            self._cluster = _Cluster(self.options)
        return self._cluster

    def _snapshot(self) -> tuple[Flat, Flat]:
        low, high = self.cluster.watermarks(self.cluster.partitions())
        self._latest = high
        return low, high

    def initialOffset(self) -> dict:
        low, high = self._snapshot()
        return to_json(resolve_offsets(self.options.starting_offsets, low, high))

    def getDefaultReadLimit(self) -> ReadLimit:
        if self.options.max_alerts_per_trigger is None:
            return ReadAllAvailable()
        return ReadMaxRows(self.options.max_alerts_per_trigger)

    def prepareForTriggerAvailableNow(self) -> None:
        _, self._target = self._snapshot()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        low, high = self._snapshot()
        max_rows = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        return to_json(plan_end(to_flat(start), low, high, max_rows, self._target))

    def reportLatestOffset(self) -> dict | None:
        return to_json(self._latest) if self._latest is not None else None

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        first, last = to_flat(start), to_flat(end)
        moved = [tp for tp, off in last.items() if off > first.get(tp, -1)]
        low, _ = self.cluster.watermarks(moved) if moved else ({}, {})
        begin, gaps = begin_offsets(first, {tp: last[tp] for tp in moved}, low)
        handle_data_loss(self.options, gaps, self.options.bootstrap)  # fails, or records and goes on
        ranges = split_ranges(begin, {tp: last[tp] for tp in begin}, self.options.alerts_per_partition)
        return [KafkaRange(r.topic, r.partition, r.start, r.end) for r in ranges]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaRange)
        if self.options.ranges_only:
            return iter(
                [
                    pa.RecordBatch.from_pylist(
                        [
                            {
                                "topic": partition.topic,
                                "partition": partition.partition,
                                "start": partition.start,
                                "end": partition.end,
                            }
                        ],
                        schema=pa.schema(
                            [
                                pa.field("topic", pa.string(), False),
                                pa.field("partition", pa.int32(), False),
                                pa.field("start", pa.int64(), False),
                                pa.field("end", pa.int64(), False),
                            ]
                        ),
                    )
                ]
            )
        return read_range(self.options, partition.offsets)

    def commit(self, end: dict) -> None:
        """Nothing to do: Spark's checkpoint, not a consumer group, records progress."""

    def stop(self) -> None:
        self._cluster = None


class KafkaBatchReader(DataSourceReader):
    """`spark.read.format("siskin_kafka")`: startingOffsets to endingOffsets as one batch."""

    def __init__(self, options: KafkaSourceOptions) -> None:
        self.options = options

    def partitions(self) -> Sequence[InputPartition]:
        cluster = _Cluster(self.options)
        low, high = cluster.watermarks(cluster.partitions())
        start = resolve_offsets(self.options.starting_offsets, low, high)
        end = resolve_offsets(self.options.ending_offsets, low, high)
        known = {tp: start.get(tp, low[tp]) for tp in end if tp in low}
        begin, gaps = begin_offsets(known, {tp: end[tp] for tp in known}, low)
        handle_data_loss(self.options, gaps, self.options.bootstrap)
        ranges = split_ranges(begin, {tp: end[tp] for tp in begin}, self.options.alerts_per_partition)
        return [KafkaRange(r.topic, r.partition, r.start, r.end) for r in ranges]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaRange)
        return read_range(self.options, partition.offsets)


class KafkaAlertSource(DataSource):
    """Alerts from Kafka topics, one row per message; see the module docstring for options."""

    @classmethod
    def name(cls) -> str:
        return "siskin_kafka"

    def schema(self) -> StructType:
        if KafkaSourceOptions.parse(self.options).ranges_only:
            return RANGE_SCHEMA
        return ALERT_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(KafkaSourceOptions.parse(self.options))

    def reader(self, schema: StructType) -> DataSourceReader:
        return KafkaBatchReader(KafkaSourceOptions.parse(self.options))


def read_ranges(options: dict[str, str], ranges: pa.Table) -> Iterator[pa.RecordBatch]:
    """In a task: the messages of offset ranges given as `RANGE_SCHEMA` rows, all or fail."""
    parsed = KafkaSourceOptions.parse(options)
    for row in ranges.to_pylist():
        yield from read_range(parsed, OffsetRange(row["topic"], row["partition"], row["start"], row["end"]))


def source_options(kafka: KafkaSettings) -> dict[str, str]:
    """The `siskin_kafka` options for the configured alert stream (what ingestion jobs pass)."""
    options = {
        "bootstrap": kafka.bootstrap,
        "startingOffsets": kafka.starting_offsets,
        "maxAlertsPerTrigger": str(kafka.max_alerts_per_trigger),
        "alertsPerPartition": str(kafka.alerts_per_partition),
        "pollTimeoutS": str(kafka.poll_timeout_s),
        "failOnDataLoss": str(kafka.fail_on_data_loss).lower(),
        "kafka.group.id": kafka.group_id,
        **source_security_options(kafka),  # plain settings, and references to secrets (never their values)
        **{f"kafka.{key}": str(value) for key, value in kafka.client.items()},  # expert overrides
    }
    if kafka.topic_pattern:
        options["subscribePattern"] = kafka.topic_pattern
    else:
        options["subscribe"] = ",".join(kafka.topics)
    return options


def _sent_ns(headers: list[list[tuple[str, bytes]] | None]) -> pa.Array:
    """The `siskin_sent_ns` header of each message as int64 (null when absent or not digits), columnar."""
    raw = [
        (h[0][1] if h[0][0] == SENT_HEADER else next((v for k, v in h if k == SENT_HEADER), None))
        if h
        else None
        for h in headers
    ]  # the publisher sends it first: one tuple look-up per message
    digits = pa.array(raw, pa.binary())
    try:
        return digits.cast(pa.string()).cast(pa.int64())  # every header well-formed: the common case
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        valid = pc.fill_null(pc.match_substring_regex(digits, r"^([0-9]{1,18}|[1-8][0-9]{18})$"), False)
        return pc.if_else(valid, digits, pa.scalar(None, pa.binary())).cast(pa.string()).cast(pa.int64())


def _timestamps(stamps: list[tuple[int, int]]) -> pa.Array:
    """Kafka (type, milliseconds) pairs as UTC microseconds; type 0 (none) is null."""
    kinds, millis = zip(*stamps, strict=True)
    micros = pc.multiply(pa.array(millis, pa.int64()), 1000)
    missing = pc.equal(pa.array(kinds, pa.int8()), 0)
    return pc.if_else(missing, pa.scalar(None, pa.int64()), micros).cast(pa.timestamp("us", tz="UTC"))


def _to_batches(
    messages: list[Any], offsets: list[int], topic: str, partition: int
) -> Iterator[pa.RecordBatch]:
    """Messages of one partition as Arrow batches: one list per column, built once; no per-message objects."""
    n = len(messages)
    values = pa.array([m.value() for m in messages], pa.large_binary())  # 64-bit offsets: never overflows
    columns = [
        pa.repeat(pa.scalar(topic, pa.string()), n),
        pa.array(np.full(n, partition, np.int32)),
        pa.array(offsets, pa.int64()),
        _timestamps([m.timestamp() for m in messages]),
        pa.array([m.key() for m in messages], pa.binary()),
        values,
        _sent_ns([m.headers() for m in messages]),
    ]
    sizes = pc.fill_null(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
    ends = np.cumsum(sizes, dtype=np.int64)
    start = 0
    while start < n:
        # rows up to ROWS_PER_BATCH whose payloads fit BYTES_PER_BATCH (at least one row)
        budget = (ends[start - 1] if start else 0) + BYTES_PER_BATCH
        stop = min(
            n, start + ROWS_PER_BATCH, max(start + 1, int(np.searchsorted(ends, budget, side="right")))
        )
        sliced = [c.slice(start, stop - start) for c in columns]
        sliced[5] = sliced[5].cast(pa.binary())
        yield pa.RecordBatch.from_arrays(sliced, schema=ARROW_SCHEMA)
        start = stop


def _consumer_conf(options: KafkaSourceOptions) -> dict[str, Any]:
    return {
        "group.id": "siskin-source",  # required by the client; never committed to
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",  # a vanished offset must surface, never silently jump
        # ~50 KB alerts: big fetches double throughput against tansu (1 MB default: ~20 per fetch)
        "max.partition.fetch.bytes": 32 * 1024 * 1024,
        "fetch.max.bytes": 64 * 1024 * 1024,
        **_client_conf(options),
    }


def _consumer(options: KafkaSourceOptions) -> Any:
    from confluent_kafka import Consumer

    return Consumer(_consumer_conf(options))


# Idle consumers of this (Spark Python worker) process, by client configuration. A task reads one
# offset range per partition per micro-batch; a new client per range costs a connection, a metadata
# round trip and a client teardown (CPU in the task and in the broker, and wall time before the first
# fetch). A consumer is taken out while a range is read and put back unassigned (so it fetches
# nothing meanwhile), closed instead if the read failed.
_IDLE: dict[str, list[Any]] = {}
_IDLE_LOCK = threading.Lock()


@contextmanager
def _reused_consumer(options: KafkaSourceOptions) -> Iterator[Any]:
    key = json.dumps(_consumer_conf(options), sort_keys=True, default=str)
    with _IDLE_LOCK:
        pool = _IDLE.setdefault(key, [])
        consumer = pool.pop() if pool else None
    consumer = consumer or _consumer(options)
    done = False
    try:
        yield consumer
        done = True
    finally:
        if done:
            try:
                consumer.unassign()
            except Exception:  # noqa: BLE001 - a client that cannot unassign is not reused
                done = False
        if done:
            with _IDLE_LOCK:
                _IDLE.setdefault(key, []).append(consumer)
        else:
            consumer.close()


def read_range(options: KafkaSourceOptions, rng: OffsetRange) -> Iterator[pa.RecordBatch]:
    """Yield the messages at offsets [start, end) of one partition as Arrow batches, all or fail.

    Messages are taken from the client `ROWS_PER_BATCH` at a time (fewer when they are large) and turned
    into Arrow columns a batch at a time; offsets deleted by retention meanwhile follow failOnDataLoss.
    """
    from confluent_kafka import KafkaError
    from confluent_kafka import TopicPartition as KafkaTP

    with _reused_consumer(options) as consumer:
        consumer.assign([KafkaTP(rng.topic, rng.partition, rng.start)])
        expected = rng.start  # the next offset we still owe Spark
        want = ROWS_PER_BATCH
        deadline = time.monotonic() + options.poll_timeout_s
        while expected < rng.end:
            messages = consumer.consume(min(want, rng.end - expected), timeout=0.2)
            if not messages:
                if consumer.position([KafkaTP(rng.topic, rng.partition)])[0].offset >= rng.end:
                    break  # the range ends in offsets that hold no message
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"{rng.topic}[{rng.partition}]: planned offsets {rng.start}..{rng.end - 1} but the "
                        f"broker at {options.bootstrap} delivered only up to {expected - 1} within "
                        f"pollTimeoutS={options.poll_timeout_s}s; the batch fails so that no alert is lost "
                        "(a restart resumes from the checkpoint). Raise pollTimeoutS if the broker is merely "
                        "slow."
                    )
                continue
            deadline = time.monotonic() + options.poll_timeout_s
            resume = None
            errors = [m.error() for m in messages]
            if errors.count(None) != len(errors):  # rare: keep the messages before the first real error
                good = []
                for msg, err in zip(messages, errors, strict=True):
                    if err is None:
                        good.append(msg)
                    elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                        resume = _skip_removed(
                            consumer, options, rng, good[-1].offset() + 1 if good else expected
                        )
                        break
                    elif err.code() != KafkaError._PARTITION_EOF:
                        raise BrokerError(
                            f"reading {rng.topic}[{rng.partition}] at {options.bootstrap}: {err}"
                        )
                messages = good
            offsets = [m.offset() for m in messages]
            first = bisect.bisect_left(offsets, expected)  # re-delivered after a refetch
            last = bisect.bisect_left(offsets, rng.end)  # past the range
            if first or last < len(offsets):
                messages, offsets = messages[first:last], offsets[first:last]
            if messages:
                for batch in _to_batches(messages, offsets, rng.topic, rng.partition):
                    want = max(
                        1, min(ROWS_PER_BATCH, BYTES_PER_BATCH * batch.num_rows // max(1, batch.nbytes))
                    )
                    yield batch
                expected = offsets[-1] + 1  # gaps (compaction, transaction markers) are not rows
            if resume is not None:
                expected = max(expected, resume)


def _skip_removed(consumer: Any, options: KafkaSourceOptions, rng: OffsetRange, expected: int) -> int:
    """Retention removed offsets between planning and reading: fail or record (failOnDataLoss), resume."""
    from confluent_kafka import TopicPartition as KafkaTP

    low, _ = consumer.get_watermark_offsets(KafkaTP(rng.topic, rng.partition), timeout=options.poll_timeout_s)
    if low <= expected:
        where = f"{rng.topic}[{rng.partition}]"
        raise BrokerError(f"{where}: offset {expected} is out of range (log start {low})")
    resume = min(low, rng.end)
    handle_data_loss(options, [OffsetRange(rng.topic, rng.partition, expected, resume)], options.bootstrap)
    consumer.assign([KafkaTP(rng.topic, rng.partition, resume)])
    return resume
