"""The lake's tables: where each lives, how it is partitioned, and what the bronze schema is.

Tables are named by layer (`bronze.alerts`, `silver.alerts`, ...) and live at
`<lake root>/<layer>/<name>`; streaming checkpoints live under `<lake root>/_checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class TableSpec:
    """One lake table: its SQL name, partition columns and a one-line description."""

    name: str
    partition_by: tuple[str, ...]
    description: str

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]


BRONZE_ALERTS = TableSpec(
    "bronze.alerts", ("night",), "alert payloads exactly as received, with their source position"
)
SILVER_ALERTS = TableSpec(
    "silver.alerts", ("night",), "decoded, flattened, deduplicated ZTF alerts with quality flags"
)
SILVER_CUTOUTS = TableSpec("silver.cutouts", ("night",), "the three gzip-FITS cutouts per candid")
SILVER_RUBIN = TableSpec(
    "silver.rubin_alerts",
    ("night",),
    "decoded Rubin/LSST alerts (diaSource flattened), deduplicated on diaSourceId",
)
SILVER_REJECTS = TableSpec(
    "silver.rejects", ("night",), "inputs that could not be decoded or validated, with the reason"
)
GOLD_OBJECTS = TableSpec("gold.objects", (), "one row per objectId, upserted per micro-batch")
OPS_BATCHES = TableSpec(
    "ops.batches", (), "one row per committed micro-batch of every stage: counts, timings"
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        BRONZE_ALERTS,
        SILVER_ALERTS,
        SILVER_RUBIN,
        SILVER_CUTOUTS,
        SILVER_REJECTS,
        GOLD_OBJECTS,
        OPS_BATCHES,
    )
}

# Views computed over the tables above at query time.
VIEWS: dict[str, str] = {
    "gold.lightcurves": "all detections and upper limits per object, deduplicated on (objectId, jd, fid)",
}


def table_path(lake_uri: str, name: str) -> str:
    """Location of a table under the lake root."""
    spec = TABLES[name]
    return f"{lake_uri.rstrip('/')}/{spec.layer}/{spec.short}"


def checkpoint_path(lake_uri: str, query: str) -> str:
    """Location of one streaming query's checkpoint."""
    return f"{lake_uri.rstrip('/')}/_checkpoints/{query}"


UTC_TS = pa.timestamp("us", tz="UTC")

BRONZE_SCHEMA = pa.schema(
    [
        pa.field("payload", pa.binary(), nullable=False),
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
