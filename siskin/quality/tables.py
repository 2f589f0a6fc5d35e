"""`gold.night_status`: one row per checked night, `ok` or `suspect`, with what failed."""

from __future__ import annotations

import pyarrow as pa

from siskin.lake.catalog import UTC_TS, TableSpec, register

NIGHT_STATUS_SCHEMA = pa.schema(
    [
        pa.field("night", pa.int32()),
        pa.field("status", pa.string()),  # "ok" | "suspect" | "no_data" (nothing ingested, not anomalous)
        pa.field("checked_at", UTC_TS),
        pa.field("expectations", pa.int32()),
        pa.field("failed", pa.int32()),
        pa.field("failures", pa.list_(pa.string())),  # "<suite>: <expectation> <column>: <observed>"
        pa.field("alerts", pa.int64()),
        pa.field("rejects", pa.int64()),
        pa.field("report", pa.string()),
        pa.field("siskin_version", pa.string()),
    ]
)

NIGHT_STATUS = register(
    TableSpec(
        "gold.night_status",
        "data-quality verdict per night (ok / suspect) from `siskin quality`: failed expectations, report",
        NIGHT_STATUS_SCHEMA,
        key=("night",),
        writer="quality",
    )
)
