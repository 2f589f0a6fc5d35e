"""The distribution micro-batch (driver side): silver rows through every enabled filter, to tables and topics.

Per micro-batch (the Stage skeleton): read the silver files the batch added (columnar), apply each
filter's mask, write the passing rows as the filter's `gold.filter_<name>` files, send them to the
topic `<prefix><name>` (exactly once: `siskin.streams.topics`), then commit each filter table with the
app transaction and `ops.distribution` last (the marker, carrying each topic's end offsets).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from siskin.lake.catalog import table
from siskin.pipeline.stage import BatchOutput, Stage
from siskin.streams.schemas import TopicSchema, publish_schema, topic_schema
from siskin.streams.tables import DISTRIBUTION, DISTRIBUTION_SCHEMA, filter_table_name, register_filter_table
from siskin.streams.topics import Offsets, TopicWriter

log = logging.getLogger(__name__)


def read_silver(lake_uri: str, name: str, refs: pa.Table) -> pa.Table:
    """Every column of the silver rows in the referenced files, in the table's schema (night as int32)."""
    from siskin.lake.delta_source import read_file_refs

    spec = table(name)
    schema = spec.arrow_schema()
    parts = [conform(chunk, schema) for chunk in read_file_refs(spec.path(lake_uri), refs, batch_rows=50000)]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` in `schema`'s column order and types; columns it lacks are null, extra columns dropped."""
    arrays = []
    for f in schema:
        if f.name in rows.column_names:
            arrays.append(pc.cast(rows.column(f.name), f.type))
        else:
            arrays.append(pa.nulls(rows.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def filters_for(settings: Any, survey: str) -> list[Any]:
    """The enabled filters reading this survey's alerts, built with their configs."""
    from siskin.streams.filters.registry import available, build

    cfg = settings.streams
    known = available(survey)
    names = list(known) if cfg.filters is None else [n for n in cfg.filters if n in known]
    configs = {n: c for n, c in cfg.filter_configs.items() if n in names}
    return build(names, survey=survey, configs=configs)


def check_filter_names(settings: Any) -> None:
    """Refuse names in `streams.filters` that no registered filter has."""
    from siskin.errors import ConfigurationError
    from siskin.streams.filters.registry import available

    if settings.streams.filters is None:
        return
    unknown = sorted(set(settings.streams.filters) - set(available()))
    if unknown:
        raise ConfigurationError(
            f"streams.filters names unknown filters {unknown}; known: {', '.join(available()) or 'none'}"
        )


def topic_name(settings: Any, filter_name: str) -> str:
    """The Kafka topic of a filter."""
    return f"{settings.streams.topic_prefix}{filter_name}"


@dataclass
class DistributeStage(Stage):
    """`foreachBatch` body of the silver -> filter tables + topics query."""

    writer: ClassVar[str] = "distribute"
    marker: ClassVar[str] = DISTRIBUTION

    filters: dict[str, list[Any]] | None = None  # per survey; default: `filters_for(settings, survey)`
    topics: TopicWriter | None = None
    _schemas: dict[str, TopicSchema] = field(default_factory=dict, init=False, repr=False)
    _ends: dict[str, Offsets] = field(default_factory=dict, init=False, repr=False)
    _pending: dict[str, Offsets] = field(default_factory=dict, init=False, repr=False)
    _seeded: set[tuple[str, int]] = field(default_factory=set, init=False, repr=False)
    _skipped: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.topics is None:
            from siskin.sources.kafka_security import client_config

            conf = client_config(self.settings.kafka, self.settings.streams.bootstrap)
            self.topics = TopicWriter(conf, partitions=self.settings.streams.partitions)
        if self.filters is None:
            check_filter_names(self.settings)
            self.filters = {}
        for group in self.filters.values():
            for f in group:
                register_filter_table(f.name, f.survey, f.description)

    def close(self) -> None:
        """Flush and close the Kafka clients (the query has stopped)."""
        if self.topics is not None:
            self.topics.close()

    def survey_filters(self, survey: str) -> list[Any]:
        assert self.filters is not None
        if survey not in self.filters:
            self.filters[survey] = filters_for(self.settings, survey)
            for f in self.filters[survey]:
                register_filter_table(f.name, f.survey, f.description)
        return self.filters[survey]

    def fink(self, filter_name: str) -> bool:
        cfg = self.settings.streams
        return cfg.fink_compat_topics.get(filter_name, cfg.fink_compat)

    def schema_of(self, f: Any, topic: str) -> TopicSchema:
        """The topic's schema (published in the lake the first time this process uses it)."""
        if topic not in self._schemas:
            arrow = table(filter_table_name(f.name)).arrow_schema()
            ts = topic_schema(topic, arrow, f.survey, f.description, self.fink(f.name))
            publish_schema(self.settings.lake_uri, ts)
            self._schemas[topic] = ts
        return self._schemas[topic]

    def recorded_ends(self, topic: str) -> Offsets | None:
        """The topic's end offsets after the last committed batch (from `ops.distribution`)."""
        if topic in self._ends:
            return self._ends[topic]
        from deltalake import DeltaTable

        from siskin.lake.transactions import open_table

        uri = self.path(DISTRIBUTION)
        if open_table(uri) is None:
            return None
        rows = DeltaTable(uri).to_pyarrow_table(
            columns=["topic", "batch_id", "committed_at", "end_offsets"], filters=[("topic", "=", topic)]
        )
        if rows.num_rows == 0:
            return None
        last = rows.sort_by([("committed_at", "descending")]).slice(0, 1).to_pylist()[0]
        ends = {int(p): int(o) for p, o in json.loads(last["end_offsets"]).items()}
        self._ends[topic] = ends
        return ends

    def seed(self, f: Any, nights: list[int], batch_keys: pa.Array, key: str) -> None:
        """Give a stateful filter what it passed earlier in these nights (not this batch's own rows)."""
        from deltalake import DeltaTable

        from siskin.lake.transactions import open_table

        todo = [n for n in nights if (f.name, n) not in self._seeded]
        if not todo:
            return
        uri = self.path(filter_table_name(f.name))
        schema = table(filter_table_name(f.name)).arrow_schema()
        passed = schema.empty_table()
        if open_table(uri) is not None:
            passed = DeltaTable(uri).to_pyarrow_table(filters=[("night", "in", [str(n) for n in todo])])
            passed = conform(passed, schema)
            passed = passed.filter(pc.invert(pc.is_in(passed.column(key), value_set=batch_keys)))
        f.seed(passed)
        self._seeded.update((f.name, n) for n in todo)

    def produce(self, df: DataFrame, batch_id: int) -> BatchOutput | None:
        from siskin.lake.parquet_files import write_data_files

        refs = df.toArrow()
        if refs.num_rows == 0:
            return None
        assert self.topics is not None
        out = BatchOutput()
        marker: list[dict[str, Any]] = []
        self._pending = {}
        for name in sorted(set(refs.column("table").to_pylist())):
            spec = table(name)
            assert spec.survey is not None, f"{name} is not a survey table"
            alerts = read_silver(
                self.settings.lake_uri, name, refs.filter(pc.equal(refs.column("table"), name))
            )
            out.input_rows += alerts.num_rows
            nights = sorted({int(n) for n in pc.unique(alerts.column("night")).to_pylist()})
            out.nights = sorted(set(out.nights) | set(nights))
            key = spec.key[0]
            for f in self.survey_filters(spec.survey):
                gaps = f.missing(alerts.schema)
                if gaps:
                    if f.name not in self._skipped:  # once per process, not per batch
                        log.warning("filter %s skipped: silver lacks %s", f.name, ", ".join(gaps))
                        self._skipped.add(f.name)
                    continue
                if getattr(f, "stateful", False):
                    self.seed(f, nights, alerts.column(key), key)
                passed = alerts.filter(f.mask(alerts))
                target = filter_table_name(f.name)
                rows = conform(
                    passed.append_column(
                        "filter_version", pa.repeat(pa.scalar(str(f.version)), passed.num_rows)
                    ),
                    table(target).arrow_schema(),
                )
                if rows.num_rows:
                    out.files[target] = write_data_files(rows, self.path(target), ("night",))
                topic = topic_name(self.settings, f.name)
                produced, already, ends = self.send(f, topic, rows, key)
                self._pending[topic] = ends
                out.output_rows += rows.num_rows
                marker.append(
                    {
                        "query": self.query,
                        "app_id": self.app_id,
                        "batch_id": batch_id,
                        "survey": spec.survey,
                        "filter": f.name,
                        "filter_version": str(f.version),
                        "topic": topic,
                        "table": target,
                        "input_rows": alerts.num_rows,
                        "passed": rows.num_rows,
                        "produced": produced,
                        "already_in_topic": already,
                        "end_offsets": json.dumps({str(p): o for p, o in ends.items()}),
                        "committed_at": datetime.now(UTC),
                    }
                )
        rows = pa.Table.from_pylist(marker, schema=DISTRIBUTION_SCHEMA)
        out.files[DISTRIBUTION] = write_data_files(rows, self.path(DISTRIBUTION), ()) if rows.num_rows else []
        out.duplicates = sum(m["already_in_topic"] for m in marker)
        return out

    def send(self, f: Any, topic: str, rows: pa.Table, key: str) -> tuple[int, int, Offsets]:
        """Produce the rows not already in the topic; (produced, found already there, end offsets after)."""
        from siskin.streams.avro import confluent_frame, encode_rows
        from siskin.streams.avro_columnar import encode_table

        assert self.topics is not None
        self.topics.ensure_topic(topic)
        ts = self.schema_of(f, topic)
        now = self.topics.end_offsets(topic)
        recorded = self.recorded_ends(topic)
        already: set[int] = set()
        if recorded != now:  # a crashed run of a batch sent messages after the last commit: read them back
            already = self.topics.candids_between(topic, recorded or {}, now)
        if already:
            rows = rows.filter(
                pc.invert(pc.is_in(rows.column(key), value_set=pa.array(sorted(already), pa.int64())))
            )
        if rows.num_rows == 0:
            return 0, len(already), now
        candids = [int(c) for c in rows.column(key).to_pylist()]
        try:
            bodies = encode_table(rows)  # columnar; byte-identical to fastavro's encoding
        except NotImplementedError:
            bodies = encode_rows(rows, ts.parsed)
        if ts.framing == "fink":
            text = ts.text.encode()
            values, keys = bodies, [text] * len(bodies)
        else:
            values = [confluent_frame(ts.id, b) for b in bodies]
            keys = [str(c).encode() for c in candids]
        sent = (
            rows.column("sent_ns").to_pylist() if "sent_ns" in rows.column_names else [None] * rows.num_rows
        )
        self.topics.produce(topic, values, keys, candids, sent)
        return rows.num_rows, len(already), self.topics.end_offsets(topic)

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        super().__call__(df, batch_id)
        self._ends.update(self._pending)  # only once the marker is committed
        self._pending = {}
