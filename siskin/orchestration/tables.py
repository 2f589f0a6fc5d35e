"""The table the nightly statistics step writes, declared in the lake's table catalog (schema only)."""

from __future__ import annotations

import pyarrow as pa

from siskin.lake.catalog import TableSpec, register

NIGHT_STATS_SCHEMA = pa.schema(
    [
        pa.field("night", pa.int32()),
        pa.field("survey", pa.string()),  # ztf, rubin, or "" for night-wide figures (bronze, rejects)
        pa.field("metric", pa.string()),  # alerts, objects, quality_ok, alerts_per_band, rejects, ...
        pa.field("key", pa.string()),  # the band, reject reason or catalog a figure is broken down by; ""
        pa.field("value", pa.int64()),
    ]
)

NIGHT_STATS = register(
    TableSpec(
        "ops.night_stats",
        "per-night statistics of the lake (alerts, objects, per band, quality, rejects, matches), "
        "replaced per night by the nightly DAG",
        NIGHT_STATS_SCHEMA,
        partition_by=("night",),
        key=("night", "survey", "metric", "key"),
        writer="nightly",
    )
)
