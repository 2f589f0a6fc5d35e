"""Offset arithmetic of the Kafka source, free of any client so that it is tested on its own.

An offset is Spark's checkpointed JSON: `{"topic": {"partition": next_offset}}` with string keys.
Internally it is flattened to `{(topic, partition): next_offset}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from siskin.errors import BrokerError, ConfigurationError
from siskin.sources.kafka_security import parse_secret_refs

TopicPartition = tuple[str, int]
Flat = dict[TopicPartition, int]
OffsetsJson = dict[str, dict[str, int]]

EARLIEST = -2  # in a startingOffsets JSON, as in Spark's own Kafka source
LATEST = -1


def to_flat(offsets: Mapping[str, Mapping[str, int]]) -> Flat:
    """`{"t": {"0": 5}}` -> `{("t", 0): 5}`."""
    return {(topic, int(part)): int(off) for topic, parts in offsets.items() for part, off in parts.items()}


def to_json(flat: Mapping[TopicPartition, int]) -> OffsetsJson:
    """`{("t", 0): 5}` -> `{"t": {"0": 5}}`, sorted so that equal offsets serialise equally."""
    out: OffsetsJson = {}
    for (topic, part), off in sorted(flat.items()):
        out.setdefault(topic, {})[str(part)] = int(off)
    return out


def _positive_int(options: Mapping[str, str], key: str, default: int | None) -> int | None:
    text = options.get(key)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigurationError(f"option {key}={text!r} must be an integer") from exc
    if value <= 0:
        raise ConfigurationError(f"option {key}={text!r} must be positive")
    return value


def _flag(options: Mapping[str, str], key: str, default: bool) -> bool:
    text = options.get(key)
    if text is None or text.strip() == "":
        return default
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ConfigurationError(f"option {key}={text!r} must be true or false")
    return value == "true"


@dataclass(frozen=True)
class KafkaSourceOptions:
    """The parsed, validated options of `readStream.format("siskin_kafka")`."""

    bootstrap: str
    topics: tuple[str, ...] = ()
    pattern: str | None = None
    starting_offsets: str = "earliest"
    ending_offsets: str = "latest"
    max_alerts_per_trigger: int | None = None
    alerts_per_partition: int = 1000
    poll_timeout_s: float = 10.0
    client_conf: dict[str, str] = field(default_factory=dict)
    secret_refs: dict[str, str] = field(default_factory=dict)  # librdkafka key -> env:NAME | file:/path
    ranges_only: bool = False
    fail_on_data_loss: bool = True
    gaps_table: str | None = None  # where failOnDataLoss=false records gaps (ops.kafka_gaps)
    query_name: str | None = None
    app_id: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> KafkaSourceOptions:
        """Validate Spark's (case-insensitive) option strings; `kafka.<key>` go to the client."""
        lowered = {str(k).lower(): str(v) for k, v in options.items()}
        bootstrap = lowered.get("bootstrap", "").strip()
        if not bootstrap:
            raise ConfigurationError("the siskin_kafka source needs option bootstrap=host:port[,host:port]")
        topics = tuple(t.strip() for t in lowered.get("subscribe", "").split(",") if t.strip())
        pattern = lowered.get("subscribepattern") or None
        if bool(topics) == bool(pattern):
            raise ConfigurationError("give exactly one of the options subscribe (t1,t2) or subscribePattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigurationError(f"subscribePattern {pattern!r} is not a valid regex: {exc}") from exc
        starting = lowered.get("startingoffsets", "earliest").strip()
        ending = lowered.get("endingoffsets", "latest").strip()
        parse_offsets_spec(starting)  # fail at query start, not at the first batch
        parse_offsets_spec(ending)
        try:
            poll_timeout_s = float(lowered.get("polltimeouts", "10"))
        except ValueError as exc:
            raise ConfigurationError("option pollTimeoutS must be a number of seconds") from exc
        return cls(
            bootstrap=bootstrap,
            topics=topics,
            pattern=pattern,
            starting_offsets=starting,
            ending_offsets=ending,
            max_alerts_per_trigger=_positive_int(lowered, "maxalertspertrigger", None),
            alerts_per_partition=_positive_int(lowered, "alertsperpartition", 1000) or 1000,
            poll_timeout_s=poll_timeout_s,
            client_conf={k[len("kafka.") :]: v for k, v in lowered.items() if k.startswith("kafka.")},
            secret_refs=parse_secret_refs(lowered),
            ranges_only=_flag(lowered, "rangesonly", False),
            fail_on_data_loss=_flag(lowered, "failondataloss", True),
            gaps_table=lowered.get("gapstable") or None,
            query_name=lowered.get("queryname") or None,
            app_id=lowered.get("appid") or None,
        )

    def subscribed(self, topic: str) -> bool:
        """Whether a topic name belongs to this query (pattern: full match, internal topics excluded)."""
        if self.pattern is not None:
            return not topic.startswith("__") and re.fullmatch(self.pattern, topic) is not None
        return topic in self.topics


def parse_offsets_spec(spec: str) -> str | Flat:
    """`earliest`, `latest`, or a JSON `{"topic": {"0": 42}}` (-2 = earliest, -1 = latest)."""
    if spec in ("earliest", "latest"):
        return spec
    try:
        data = json.loads(spec)
        flat = to_flat(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigurationError(
            f'offsets {spec!r} must be earliest, latest or JSON like {{"topic": {{"0": 42}}}}'
        ) from exc
    if any(off < EARLIEST for off in flat.values()):
        raise ConfigurationError(f"offsets {spec!r}: an offset must be >= 0, or -2 (earliest) / -1 (latest)")
    return flat


def resolve_offsets(spec: str, low: Flat, high: Flat) -> Flat:
    """Concrete offsets for the discovered partitions; JSON leaves unnamed partitions at earliest."""
    parsed = parse_offsets_spec(spec)
    if parsed == "earliest":
        return dict(low)
    if parsed == "latest":
        return dict(high)
    assert isinstance(parsed, dict)
    out = dict(low)
    for tp, off in parsed.items():
        if off == EARLIEST:
            if tp in low:
                out[tp] = low[tp]
        elif off == LATEST:
            if tp in high:
                out[tp] = high[tp]
        else:
            out[tp] = off  # kept even for a partition not created yet: it starts there when it appears
    return out


def allocate(available: Mapping[TopicPartition, int], budget: int) -> Flat:
    """Split `budget` rows over partitions max-min fairly: small backlogs in full, the rest evenly."""
    out: Flat = {}
    remaining = budget
    ordered = sorted(available.items(), key=lambda item: (item[1], item[0]))
    for i, (tp, count) in enumerate(ordered):
        take = min(count, remaining // (len(ordered) - i))
        out[tp] = take
        remaining -= take
    return out


def plan_end(start: Flat, low: Flat, high: Flat, max_rows: int | None, target: Flat | None = None) -> Flat:
    """The end offsets of the next micro-batch.

    `start` is the previous end (partitions absent from it are new and start at their low watermark);
    `high` the current high watermarks, capped by `target` under Trigger.AvailableNow; `max_rows`
    bounds the rows of the batch. Partitions that vanished keep their offset, so offsets never go back.
    """
    end = dict(start)
    available: Flat = {}
    for tp, hi in high.items():
        begin = start.get(tp, low.get(tp, 0))
        if target is not None:
            hi = min(hi, target.get(tp, begin))
        if hi < begin and tp in start:
            raise BrokerError(
                f"{tp[0]}[{tp[1]}] ends at offset {hi} but the query already read up to {begin}: the topic "
                "was recreated or the broker restarted empty (the embedded broker keeps topics in memory). "
                "Start the query with a new checkpoint."
            )
        effective = max(begin, low.get(tp, 0))  # messages removed by retention are not rows
        if hi > effective:
            available[tp] = hi - effective
    if max_rows is not None:
        granted = allocate(available, max_rows)
    else:
        granted = available
    for tp, rows in granted.items():
        if rows > 0:
            end[tp] = max(start.get(tp, low.get(tp, 0)), low.get(tp, 0)) + rows
    return end


@dataclass(frozen=True)
class OffsetRange:
    """Offsets [start, end) of one partition: the unit one Spark task reads."""

    topic: str
    partition: int
    start: int
    end: int


def begin_offsets(first: Flat, last: Flat, low: Flat) -> tuple[Flat, list[OffsetRange]]:
    """Where each partition that moved in (first, last] starts reading, and the offsets lost on the way.

    `first` is the previous batch's end, `last` this batch's end, `low` the partitions' log start now.
    Offsets below the log start were deleted (retention) before Siskin read them: a gap. A partition
    absent from `first` appeared after the query started and should begin at 0 (Spark's rule), so a log
    start above 0 there is a gap too.
    """
    begin: Flat = {}
    gaps: list[OffsetRange] = []
    for tp, stop in sorted(last.items()):
        previous = first.get(tp)
        if previous is not None and stop <= previous:
            continue
        start = previous if previous is not None else 0
        log_start = low.get(tp, 0)
        if start < log_start:
            gaps.append(OffsetRange(tp[0], tp[1], start, min(log_start, stop)))
            start = log_start
        if stop > start:
            begin[tp] = start
    return begin, gaps


def split_ranges(start: Flat, end: Flat, per_range: int) -> list[OffsetRange]:
    """Cut each partition's [start, end) into pieces of at most `per_range` offsets."""
    ranges = []
    for tp, stop in sorted(end.items()):
        begin = start[tp]
        for piece in range(begin, stop, per_range):
            ranges.append(OffsetRange(tp[0], tp[1], piece, min(piece + per_range, stop)))
    return ranges
