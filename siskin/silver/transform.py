"""Silver: bronze payloads decoded (columnar), quality-flagged, deduplicated on candid.

One decode produces three outputs: `silver.alerts`, `silver.cutouts` and `silver.rejects`. Spark
tasks read bronze files, decode (Arrow in, Arrow out) and write the Parquet files of all three;
the driver deduplicates on candid and commits them (see `silver_stage`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from siskin import __version__
from siskin.config import Settings
from siskin.lake.tables import PROVENANCE_FIELDS, UTC_TS

CUTOUT_KINDS = ("Science", "Template", "Difference")
CUTOUT_ONLY = tuple(f"cutout{k}_{p}" for k in CUTOUT_KINDS for p in ("fileName", "stampData"))
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


@lru_cache(maxsize=1)
def silver_schema() -> pa.Schema:
    """Columns of `silver.alerts`: the decoded alert, quality flags, provenance, processing info."""
    from siskin.alerts.decoder import silver_alert_schema

    decoded = [f for f in silver_alert_schema() if f.name != "_row"]
    return pa.schema(decoded + list(PROCESSING) + list(PROVENANCE_FIELDS))


@lru_cache(maxsize=1)
def rubin_schema() -> pa.Schema:
    """Columns of `silver.rubin_alerts`: the decoded Rubin alert, processing info, provenance."""
    from siskin.alerts.decoder import rubin_alert_schema

    decoded = [f for f in rubin_alert_schema() if f.name != "_row"]
    return pa.schema(decoded + list(PROCESSING) + list(PROVENANCE_FIELDS))


@lru_cache(maxsize=1)
def cutouts_schema() -> pa.Schema:
    """Columns of `silver.cutouts`: keyed by candid, partitioned by night."""
    from siskin.alerts.decoder import cutout_schema

    return pa.schema([f for f in cutout_schema() if f.name != "_row"] + [PROCESSING[3]])


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


def decode_bronze(bronze: pa.Table, settings: Settings, now: datetime | None = None) -> dict[str, pa.Table]:
    """Decode bronze rows into the silver tables: ZTF alerts, Rubin alerts, cutouts, rejects."""
    from siskin.alerts.decoder import decode_payloads, quality_flags

    now = now or datetime.now(UTC)
    payloads = bronze.column("payload").combine_chunks()
    if pa.types.is_large_binary(payloads.type):
        payloads = payloads.cast(pa.binary())
    result = decode_payloads(payloads, settings.decode)
    out = {
        "silver": silver_schema().empty_table(),
        "rubin": rubin_schema().empty_table(),
        "cutouts": cutouts_schema().empty_table(),
        "rejects": rejects_schema().empty_table(),
    }
    alerts = result.alerts
    if alerts.num_rows:
        n = alerts.num_rows
        cols = {name: alerts.column(name) for name in alerts.column_names}
        cols.update(_provenance(bronze, alerts.column("_row")))
        cols["quality_ok"], cols["quality_reason"] = quality_flags(alerts, settings.quality)
        out["silver"] = _conform({**cols, **_stamp(n, now)}, n, silver_schema())
    rubin = result.rubin_alerts
    if rubin.num_rows:
        n = rubin.num_rows
        cols = {name: rubin.column(name) for name in rubin.column_names}
        cols.update(_provenance(bronze, rubin.column("_row")))
        cols["quality_reason"] = pa.array(["no quality cuts defined for rubin yet"] * n, pa.string())
        out["rubin"] = _conform({**cols, **_stamp(n, now)}, n, rubin_schema())
    cutouts = result.cutouts
    if cutouts.num_rows:
        cut_cols = {name: cutouts.column(name) for name in cutouts.column_names}
        out["cutouts"] = _conform(
            {**cut_cols, **_stamp(cutouts.num_rows, now)}, cutouts.num_rows, cutouts_schema()
        )
    rejects = result.rejects
    if rejects.num_rows:
        n = rejects.num_rows
        rows = rejects.column("_row")
        cols = {name: rejects.column(name) for name in rejects.column_names}
        cols.update(_provenance(bronze, rows))
        cols["payload"] = payloads.take(rows)
        cols["payload_size"] = bronze.column("payload_size").take(rows)
        cols["night"] = bronze.column("night").take(rows)
        out["rejects"] = _conform({**cols, **_stamp(n, now)}, n, rejects_schema())
    return out


def silver_transform(settings: Settings, bronze_uri: str) -> Callable[[pa.Table], dict[str, pa.Table]]:
    """The task-side transform: bronze file references (or bronze rows) -> the three silver tables."""
    from siskin.lake.delta_source import read_file_refs
    from siskin.lake.tables import BRONZE_SCHEMA

    def transform(batch: pa.Table) -> dict[str, pa.Table]:
        if "payload" in batch.column_names:
            chunks = [batch]
        else:
            chunks = [t for t in read_file_refs(bronze_uri, batch)]
        parts = [decode_bronze(_as_bronze(c, BRONZE_SCHEMA), settings) for c in chunks if c.num_rows]
        if not parts:
            return {}
        return {key: pa.concat_tables([p[key] for p in parts]) for key in parts[0]}

    return transform


def _as_bronze(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return table.select(schema.names).cast(schema)
