"""Silver, inside Spark tasks: bronze payloads decoded (columnar), quality-flagged, keyed by table.

One decode yields every silver table the catalog says the silver stage writes: one alerts table
per survey (the codec names it), `silver.cutouts` and `silver.rejects`. Tasks write their Parquet
files; the driver deduplicates and commits them (`siskin.silver.batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from siskin import __version__
from siskin.config import Settings
from siskin.lake.catalog import BRONZE_SCHEMA, PROVENANCE_FIELDS, UTC_TS

CUTOUTS_TABLE = "silver.cutouts"
REJECTS_TABLE = "silver.rejects"
REJECT_ONLY = (
    pa.field("reason_code", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("alert_index", pa.int32()),
    pa.field("payload", pa.binary()),
    pa.field("payload_size", pa.int64()),
)
PROCESSING = (
    pa.field("quality_ok", pa.bool_()),
    pa.field("quality_reason", pa.string()),
    pa.field("siskin_version", pa.string()),
    pa.field("processed_at", UTC_TS),
)


@lru_cache(maxsize=8)
def _decoded_fields(survey: str) -> tuple[pa.Field, ...]:
    from siskin.alerts.decoder import silver_alert_schema

    return tuple(f for f in silver_alert_schema(survey) if f.name != "_row")


def survey_silver_schema(survey: str) -> pa.Schema:
    """Columns of a survey's silver table: the decoded alert, quality flags, science module outputs (with
    their versions), provenance, processing info. Science columns follow the registered modules."""
    from siskin.alerts.registry import get_codec
    from siskin.science.tables import module_fields

    science = module_fields(get_codec(survey).silver_table)
    return pa.schema([*_decoded_fields(survey), *PROCESSING, *science, *PROVENANCE_FIELDS])


def silver_schema() -> pa.Schema:
    """Columns of `silver.alerts` (ZTF)."""
    return survey_silver_schema("ztf")


def rubin_schema() -> pa.Schema:
    """Columns of `silver.rubin_alerts`."""
    return survey_silver_schema("rubin")


@lru_cache(maxsize=1)
def cutouts_schema() -> pa.Schema:
    """Columns of `silver.cutouts`: keyed by (survey, candid), partitioned by night."""
    from siskin.alerts.decoder import cutout_schema

    decoded = [f for f in cutout_schema() if f.name != "_row"]
    return pa.schema([pa.field("survey", pa.string()), *decoded, PROCESSING[3]])


@lru_cache(maxsize=1)
def rejects_schema() -> pa.Schema:
    """Columns of `silver.rejects`: reason, raw bytes, and where the input came from."""
    keys = [pa.field("night", pa.int32()), pa.field("candid", pa.int64()), pa.field("objectId", pa.string())]
    return pa.schema(keys + list(REJECT_ONLY) + list(PROVENANCE_FIELDS) + [PROCESSING[2], PROCESSING[3]])


def _conform(columns: dict[str, pa.Array], n: int, schema: pa.Schema) -> pa.Table:
    arrays = [pc.cast(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _provenance(bronze: pa.Table, rows: pa.Array) -> dict[str, pa.Array]:
    take = {f.name: f.name for f in PROVENANCE_FIELDS}
    take["bronze_sha256"] = "sha256"
    return {name: bronze.column(src).take(rows) for name, src in take.items()}


def _stamp(n: int, now: datetime) -> dict[str, pa.Array]:
    return {
        "siskin_version": pa.array([__version__] * n, pa.string()),
        "processed_at": pa.array([now] * n, UTC_TS),
    }


def source_rejects(bronze: pa.Table) -> tuple[pa.Array, pa.Table]:
    """Rows the source could not deliver whole (`source_error`, or no payload): (usable mask, their rejects).

    `source_error` reads "<reason_code>: <message>"; a null payload without one is a Kafka tombstone.
    """
    error = _single(bronze.column("source_error"))
    payload_missing = _single(bronze.column("payload").is_null())  # no copy of the payloads
    bad = pc.or_(error.is_valid(), payload_missing)
    rows = pc.indices_nonzero(bad).cast(pa.int32())
    if len(rows) == 0:
        return pc.invert(bad), pa.table({"_row": rows})
    text = pc.fill_null(error.take(rows), "tombstone: the Kafka message has no value (null payload)")
    parts = pc.split_pattern(text, ": ", max_splits=1)
    code = pc.list_element(parts, 0)
    reason = pc.replace_substring_regex(text, pattern=r"^.*?: ", replacement="", max_replacements=1)
    n = len(rows)
    return pc.invert(bad), pa.table(
        {
            "_row": rows,
            "reason_code": code,
            "reason": reason,
            "alert_index": pa.nulls(n, pa.int32()),
            "candid": pa.nulls(n, pa.int64()),
            "objectId": pa.nulls(n, pa.string()),
        }
    )


def decode_bronze(bronze: pa.Table, settings: Settings, now: datetime | None = None) -> dict[str, pa.Table]:
    """Decode bronze rows into the silver tables, keyed by catalog table name."""
    from siskin.alerts.decoder import decode_payloads
    from siskin.alerts.registry import codecs

    now = now or datetime.now(UTC)
    original = bronze
    usable, failed = source_rejects(bronze)
    if failed.num_rows:
        bronze = bronze.filter(usable)
    payloads = _binary(bronze)
    result = decode_payloads(payloads, settings.decode)
    out: dict[str, pa.Table] = {}
    for codec in codecs():
        alerts = result.by_survey[codec.name]
        schema = survey_silver_schema(codec.name)
        if not alerts.num_rows:
            out[codec.silver_table] = schema.empty_table()
            continue
        n = alerts.num_rows
        cols = {name: alerts.column(name) for name in alerts.column_names}
        cols.update(_provenance(bronze, alerts.column("_row")))
        cols["quality_ok"], cols["quality_reason"] = codec.quality_flags(alerts, settings.quality)
        cols.update(_science(alerts, cols, codec.name, settings))
        out[codec.silver_table] = _conform({**cols, **_stamp(n, now)}, n, schema)
    cutouts = result.cutouts
    cut_cols = {name: cutouts.column(name) for name in cutouts.column_names}
    out[CUTOUTS_TABLE] = _conform(
        {**cut_cols, **_stamp(cutouts.num_rows, now)}, cutouts.num_rows, cutouts_schema()
    )
    out[REJECTS_TABLE] = _rejects(result.rejects, bronze, payloads, now)
    if failed.num_rows:
        from_source = _rejects(failed, original, _binary(original), now)
        out[REJECTS_TABLE] = pa.concat_tables([out[REJECTS_TABLE], from_source])
    return out


def _science(
    alerts: pa.Table, cols: dict[str, pa.Array], survey: str, settings: Settings
) -> dict[str, pa.Array]:
    """Science module outputs for the decoded alerts (quality flags included in what modules see)."""
    from siskin.science.enrich import enabled_modules, science_columns

    modules = enabled_modules(settings, survey)
    if not modules:
        return {}
    flags = [pa.field("quality_ok", pa.bool_()), pa.field("quality_reason", pa.string())]
    batch = alerts
    for field in flags:
        values = cols[field.name]
        chunked = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values], field.type)
        batch = batch.append_column(field, chunked)
    return science_columns(batch, modules)


def _single(values: pa.ChunkedArray) -> pa.Array:
    """One array of a chunked column; a single chunk is used as it is (combining copies every byte)."""
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def _binary(bronze: pa.Table) -> pa.Array:
    payloads = _single(bronze.column("payload"))
    return payloads.cast(pa.binary()) if pa.types.is_large_binary(payloads.type) else payloads


def _rejects(rejects: pa.Table, bronze: pa.Table, payloads: pa.Array, now: datetime) -> pa.Table:
    if not rejects.num_rows:
        return rejects_schema().empty_table()
    n = rejects.num_rows
    rows = rejects.column("_row")
    cols = {name: rejects.column(name) for name in rejects.column_names}
    cols.update(_provenance(bronze, rows))
    cols["payload"] = payloads.take(rows)
    cols["payload_size"] = bronze.column("payload_size").take(rows)
    cols["night"] = bronze.column("night").take(rows)
    return _conform({**cols, **_stamp(n, now)}, n, rejects_schema())


def silver_transform(settings: Settings, bronze_uri: str) -> Callable[[pa.Table], dict[str, pa.Table]]:
    """The task-side transform: bronze file references (or bronze rows) -> the silver tables."""
    from siskin.lake.delta_source import read_file_refs

    def transform(batch: pa.Table) -> dict[str, pa.Table]:
        if "payload" in batch.column_names:
            chunks: Iterable[pa.Table] = [batch]
        else:
            chunks = read_file_refs(bronze_uri, batch, batch_rows=DECODE_ROWS)
        groups = _grouped((as_bronze(c) for c in chunks if c.num_rows), DECODE_ROWS)
        parts = [decode_bronze(group, settings) for group in groups]
        if not parts:
            return {}
        return {key: pa.concat_tables([p[key] for p in parts]) for key in parts[0]}

    return transform


# Bronze rows decoded (and scored by every science module) per call. Each call has a fixed cost (the
# decoder, every module's set-up, model calls), and a micro-batch's bronze files are small (one per
# Kafka partition per bronze batch: a dozen alerts each at 25 alerts/s), so files are decoded together.
DECODE_ROWS = 2000


def _grouped(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Consecutive tables of one schema concatenated into groups of about `rows` rows (order kept)."""
    pending: list[pa.Table] = []
    count = 0
    for table in tables:
        pending.append(table)
        count += table.num_rows
        if count >= rows:
            yield pa.concat_tables(pending)
            pending, count = [], 0
    if pending:
        yield pa.concat_tables(pending)


def as_bronze(table: pa.Table) -> pa.Table:
    """Bronze rows in the current bronze schema (columns an older bronze file lacks become null)."""
    n = table.num_rows
    arrays = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type)
        for f in BRONZE_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=BRONZE_SCHEMA.with_metadata(None))
