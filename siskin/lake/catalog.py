"""The table catalog: every lake table declared once, with what everything else needs to know of it.

A table's name, layer, schema, partitioning, unique key and writing stage live here and nowhere
else. Stages ask the catalog which tables they write, replay asks which tables a night rebuilds,
`siskin status` and the SQL views list what exists, and later the data-quality suites and dbt
sources read their keys from it. A new table (a survey's silver table, a science output, a filter
table, a mart) is one `register(TableSpec(...))` call in the module that produces it, plus its
module's name in `PROVIDERS` when that module is not imported by the pipeline anyway.

Schemas are resolved lazily (`"module:function"`), because survey schemas come from the codecs,
which must not be imported just to learn a table's path.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import pyarrow as pa

Layer = Literal["bronze", "silver", "gold", "ops", "catalogs"]
Rebuild = Literal["none", "night", "objects"]

UTC_TS = pa.timestamp("us", tz="UTC")

# Modules that declare further tables (science outputs, filters, marts): importing one registers its tables.
PROVIDERS: tuple[str, ...] = (
    "siskin.science.xmatch.tables",
    "siskin.orchestration.tables",
    "siskin.streams.tables",
    "siskin.marts.tables",
    "siskin.quality.tables",
)

SchemaSource: TypeAlias = str | pa.Schema | Callable[[], pa.Schema]


@dataclass(frozen=True)
class TableSpec:
    """One lake table.

    Attributes:
        name: SQL name, `layer.short` (`silver.alerts`); the table lives at `<lake>/<layer>/<short>`.
        description: one line, shown by `siskin status` and written into the Delta metadata.
        schema: the Arrow schema, or a function or `"module:function"` returning it (resolved on first use).
        partition_by: Hive partition columns.
        key: columns that are unique per row (deduplication, data-quality checks, dbt tests).
        writer: the streaming stage or command that commits to the table (`bronze`, `silver`, `gold`, `ops`).
        rebuild: what `siskin replay --night` does to it: `night` (delete the night, rewrite it from bronze),
            `objects` (recompute the affected objects' rows), `none` (left alone).
        survey: the survey whose alerts the table holds, for survey tables (`ztf`, `rubin`).
        sort_by: columns data files are sorted by when compacted (`siskin maintain`).
        zorder_by: columns Z-ordered by `siskin maintain` (multi-dimensional reads such as cone searches).
    """

    name: str
    description: str
    schema: SchemaSource
    partition_by: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    writer: str = ""
    rebuild: Rebuild = "none"
    survey: str | None = None
    sort_by: tuple[str, ...] = ()
    zorder_by: tuple[str, ...] = ()
    _resolved: list[pa.Schema] = field(default_factory=list, compare=False, repr=False)

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]

    def arrow_schema(self) -> pa.Schema:
        """The table's Arrow schema (resolved once)."""
        if isinstance(self.schema, pa.Schema):
            return self.schema
        if not self._resolved:
            source = self.schema
            if isinstance(source, str):
                module, function = source.split(":")
                factory: Callable[[], pa.Schema] = getattr(importlib.import_module(module), function)
            else:
                factory = source
            self._resolved.append(factory())
        return self._resolved[0]

    def path(self, lake_uri: str) -> str:
        """Location of the table under the lake root."""
        return f"{lake_uri.rstrip('/')}/{self.layer}/{self.short}"


@dataclass(frozen=True)
class ViewSpec:
    """A view computed over tables at query time (`gold.lightcurves`); its SQL is `"module:NAME"`."""

    name: str
    description: str
    sql: str
    needs: tuple[str, ...]

    def text(self) -> str:
        module, attribute = self.sql.split(":")
        return str(getattr(importlib.import_module(module), attribute))


_TABLES: dict[str, TableSpec] = {}
_VIEWS: dict[str, ViewSpec] = {}
_loaded: list[bool] = []
_loading: list[bool] = []
_LOCK = threading.RLock()


def register(spec: TableSpec) -> TableSpec:
    """Declare a table; declaring the same name twice with different settings is an error."""
    known = _TABLES.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"table {spec.name} is declared twice with different settings")
    _TABLES[spec.name] = spec
    return spec


def register_view(spec: ViewSpec) -> ViewSpec:
    """Declare a view over catalog tables."""
    _VIEWS[spec.name] = spec
    return spec


def _load() -> None:
    """Declare the survey and provider tables once; other threads wait until the catalog is whole."""
    if _loaded:
        return
    with _LOCK:
        if _loaded or _loading:  # loaded meanwhile, or a provider of this thread asking while loading
            return
        _loading.append(True)
        try:
            for loader in _CORE_LOADERS:
                loader()
            for module in PROVIDERS:
                importlib.import_module(module)
        finally:
            _loading.clear()
        _loaded.append(True)


def tables(*, layer: str | None = None, writer: str | None = None) -> list[TableSpec]:
    """Every declared table (optionally of one layer or one writer), in declaration order."""
    _load()
    return [
        t
        for t in _TABLES.values()
        if (layer is None or t.layer == layer) and (writer is None or t.writer == writer)
    ]


def table(name: str) -> TableSpec:
    """The table called `name`; a LakeError listing the known tables otherwise."""
    _load()
    try:
        return _TABLES[name]
    except KeyError:
        from siskin.errors import LakeError

        raise LakeError(f"unknown table {name!r}; known tables: {', '.join(sorted(_TABLES))}") from None


def views() -> list[ViewSpec]:
    """Every declared view."""
    _load()
    return list(_VIEWS.values())


def names() -> Iterator[str]:
    """Table and view names, tables first."""
    _load()
    yield from _TABLES
    yield from _VIEWS


def table_path(lake_uri: str, name: str) -> str:
    """Location of a table under the lake root."""
    return table(name).path(lake_uri)


def checkpoint_path(checkpoints_uri: str, query: str) -> str:
    """Location of one streaming query's checkpoint under the root `Settings.checkpoints_uri`."""
    return f"{checkpoints_uri.rstrip('/')}/{query}"


def survey_table(survey: str) -> TableSpec:
    """The silver table holding a survey's alerts."""
    for spec in tables(layer="silver"):
        if spec.survey == survey and spec.writer == "silver" and spec.key:
            return spec
    from siskin.errors import LakeError

    raise LakeError(f"no silver table is declared for survey {survey!r}")


# --- The core tables: sources -> bronze -> silver -> gold, and the operational record. ---------------

BRONZE_SCHEMA = pa.schema(
    [
        pa.field("payload", pa.binary()),  # null only for a Kafka tombstone (then source_error says so)
        pa.field("payload_size", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # "kafka" | "file"
        pa.field("topic", pa.string()),
        pa.field("partition", pa.int32()),
        pa.field("offset", pa.int64()),
        pa.field("kafka_timestamp", UTC_TS),
        pa.field("sent_ns", pa.int64()),
        pa.field("file_path", pa.string()),
        pa.field("file_member", pa.string()),
        pa.field("survey", pa.string()),
        pa.field("schema_name", pa.string()),
        pa.field("schema_version", pa.string()),
        pa.field("n_alerts", pa.int32()),
        pa.field("object_id", pa.string()),
        pa.field("candid", pa.int64()),
        pa.field("peek_error", pa.string()),
        # "<reason_code>: <message>" when the source could not deliver the input whole (a Kafka tombstone,
        # a corrupt archive, a file that vanished); silver turns such rows into rejects with that code.
        pa.field("source_error", pa.string()),
        pa.field("ingest_time", UTC_TS, nullable=False),
        pa.field("night", pa.int32(), nullable=False),
    ]
)

# Provenance columns every silver row carries, copied from its bronze row.
PROVENANCE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("source", pa.string()),
    pa.field("topic", pa.string()),
    pa.field("partition", pa.int32()),
    pa.field("offset", pa.int64()),
    pa.field("file_path", pa.string()),
    pa.field("file_member", pa.string()),
    pa.field("bronze_sha256", pa.string()),
    pa.field("ingest_time", UTC_TS),
    pa.field("sent_ns", pa.int64()),
)

OPS_BATCHES_SCHEMA = pa.schema(
    [
        pa.field("query", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("batch_id", pa.int64()),
        pa.field("started_at", UTC_TS),
        pa.field("committed_at", UTC_TS),
        pa.field("seconds", pa.float64()),
        pa.field("input_rows", pa.int64()),
        pa.field("output_rows", pa.int64()),
        pa.field("rejects", pa.int64()),
        pa.field("duplicates", pa.int64()),
        pa.field("nights", pa.string()),
        pa.field("replay", pa.bool_()),
    ]
)

BRONZE_ALERTS = register(
    TableSpec(
        "bronze.alerts",
        "alert payloads exactly as received, with their source position",
        BRONZE_SCHEMA,
        partition_by=("night",),
        writer="bronze",
    )
)


def _survey_tables() -> None:
    """Each survey codec names its silver table and key; declare them in codec order (ZTF first)."""
    from functools import partial

    from siskin.alerts.registry import codecs
    from siskin.silver.transform import survey_silver_schema

    for codec in codecs():
        register(
            TableSpec(
                codec.silver_table,
                codec.silver_description,
                partial(survey_silver_schema, codec.name),
                partition_by=("night",),
                key=(codec.alert_key,),
                writer="silver",
                rebuild="night",
                survey=codec.name,
                sort_by=(codec.object_key, codec.alert_key),
            )
        )


def _core_after_surveys() -> None:
    register(
        TableSpec(
            "silver.cutouts",
            "the three gzip-FITS cutouts per alert (ZTF candid or Rubin diaSourceId), keyed by survey",
            "siskin.silver.transform:cutouts_schema",
            partition_by=("night",),
            key=("survey", "candid"),
            writer="silver",
            rebuild="night",
        )
    )
    register(
        TableSpec(
            "silver.rejects",
            "inputs that could not be decoded or validated, with the reason and the raw bytes",
            "siskin.silver.transform:rejects_schema",
            partition_by=("night",),
            writer="silver",
            rebuild="night",
        )
    )
    register(
        TableSpec(
            "gold.objects",
            "one row per (survey, objectId): light-curve summary, position, latest class",
            "siskin.gold.objects:gold_schema",
            partition_by=("bucket",),
            key=("survey", "objectId"),
            writer="gold",
            rebuild="objects",
            sort_by=("survey", "objectId"),
        )
    )
    register(
        TableSpec(
            "gold.class_history",
            "one row per change of an object's class or of the rules' version giving it (append-only)",
            "siskin.gold.classes:class_history_schema",
            partition_by=("night",),
            key=("survey", "objectId", "candid", "class_version"),
            writer="gold",
            rebuild="none",
        )
    )
    register(
        TableSpec(
            "ops.batches",
            "one row per committed micro-batch of every stage: counts, timings",
            OPS_BATCHES_SCHEMA,
            key=("app_id", "batch_id"),
            writer="ops",
        )
    )
    register(
        TableSpec(
            "ops.kafka_gaps",
            "Kafka offsets deleted by retention before Siskin read them (recorded when failOnDataLoss=false)",
            "siskin.sources.kafka_gaps:gaps_schema",
            key=("topic", "partition", "from_offset"),
            writer="ops",
        )
    )
    register_view(
        ViewSpec(
            "gold.lightcurves",
            "detections, upper limits and forced photometry per object, both surveys, deduplicated",
            "siskin.query.lightcurves:LIGHTCURVES_SQL",
            needs=("silver.alerts", "silver.rubin_alerts"),
        )
    )


_CORE_LOADERS = (_survey_tables, _core_after_surveys)
