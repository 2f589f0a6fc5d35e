"""The dbt marts as lake tables (`gold.nightly_summary`, `gold.candidates`, `gold.object_lightcurves`).

dbt builds them in Spark (schema `dbt_marts` of the SQL endpoint); `siskin.marts.build` then publishes
each one as a Delta table under `lake/gold/` in exactly the schema declared here, so `siskin sql`, the
exports and the data-quality suites read them like any other table.
"""

from __future__ import annotations

import pyarrow as pa

from siskin.lake.catalog import TableSpec, register

COUNTS = pa.map_(pa.string(), pa.int64())

NIGHTLY_SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("night", pa.int32(), nullable=False),
        pa.field("n_alerts", pa.int64()),
        pa.field("n_objects", pa.int64()),
        pa.field("n_good", pa.int64()),
        pa.field("quality_ok_fraction", pa.float64()),
        pa.field("n_rejects", pa.int64()),
        pa.field("alerts_per_survey", COUNTS),
        pa.field("alerts_per_band", COUNTS),
        pa.field("alerts_per_class", COUNTS),
        pa.field("rejects_by_reason", COUNTS),
        pa.field("quality_cut_fractions", pa.map_(pa.string(), pa.float64())),
        pa.field("latency_p50_s", pa.float64()),
        pa.field("latency_p95_s", pa.float64()),
        pa.field("latency_max_s", pa.float64()),
    ]
)

CANDIDATES_SCHEMA = pa.schema(
    [
        pa.field("survey", pa.string()),
        pa.field("object_id", pa.string()),
        pa.field("object_key", pa.string()),
        pa.field("class", pa.string()),
        pa.field("class_version", pa.string()),
        pa.field("classified_jd", pa.float64()),
        pa.field("classified_night", pa.int32()),
        pa.field("n_alerts", pa.int64()),
        pa.field("n_good", pa.int64()),
        pa.field("first_jd", pa.float64()),
        pa.field("last_jd", pa.float64()),
        pa.field("last_night", pa.int32()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("last_mag_g", pa.float64()),
        pa.field("last_mag_r", pa.float64()),
        pa.field("color_g_r", pa.float64()),
    ]
)

POINT = pa.struct(
    [
        pa.field("jd", pa.float64()),
        pa.field("band", pa.string()),
        pa.field("mag", pa.float64()),
        pa.field("magerr", pa.float64()),
        pa.field("limiting_mag", pa.float64()),
        pa.field("kind", pa.string()),
        pa.field("point_id", pa.int64()),
    ]
)

OBJECT_LIGHTCURVES_SCHEMA = pa.schema(
    [
        pa.field("survey", pa.string()),
        pa.field("object_id", pa.string()),
        pa.field("object_key", pa.string()),
        pa.field("n_points", pa.int64()),
        pa.field("n_detections", pa.int64()),
        pa.field("n_upper_limits", pa.int64()),
        pa.field("n_forced", pa.int64()),
        pa.field("bands", pa.list_(pa.string())),
        pa.field("first_jd", pa.float64()),
        pa.field("last_jd", pa.float64()),
        pa.field("points", pa.list_(POINT)),
    ]
)

NIGHTLY_SUMMARY = register(
    TableSpec(
        "gold.nightly_summary",
        "dbt mart: per night alerts, objects, bands, classes, rejects by reason, quality cuts, latency",
        NIGHTLY_SUMMARY_SCHEMA,
        key=("night",),
        writer="marts",
    )
)
CANDIDATES = register(
    TableSpec(
        "gold.candidates",
        "dbt mart: objects per science class (latest classified alert), with their gold state",
        CANDIDATES_SCHEMA,
        key=("object_key",),
        writer="marts",
    )
)
OBJECT_LIGHTCURVES = register(
    TableSpec(
        "gold.object_lightcurves",
        "dbt mart: one row per object, its light curve points sorted by time",
        OBJECT_LIGHTCURVES_SCHEMA,
        key=("object_key",),
        writer="marts",
    )
)

CLASS_TRANSITIONS_SCHEMA = pa.schema(
    [
        pa.field("transition_key", pa.string()),
        pa.field("survey", pa.string()),
        pa.field("object_id", pa.string()),
        pa.field("object_key", pa.string()),
        pa.field("alert_id", pa.int64()),
        pa.field("jd", pa.float64()),
        pa.field("night", pa.int32()),
        pa.field("previous_class", pa.string()),
        pa.field("class", pa.string()),
        pa.field("previous_class_version", pa.string()),
        pa.field("class_version", pa.string()),
        pa.field("source", pa.string()),
    ]
)

CLASS_TRANSITIONS = register(
    TableSpec(
        "gold.class_transitions",
        "dbt mart: objects whose class changed (from gold.class_history), with the rules versions",
        CLASS_TRANSITIONS_SCHEMA,
        key=("transition_key",),
        writer="marts",
    )
)

MARTS: tuple[TableSpec, ...] = (NIGHTLY_SUMMARY, CANDIDATES, OBJECT_LIGHTCURVES, CLASS_TRANSITIONS)
