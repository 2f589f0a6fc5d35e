"""The steps of the nightly DAG, one function each, every one idempotent and taking (settings, night).

Rerunning a step for the same night leaves the same tables: maintenance only rewrites small files
(same rows), cross-matches replace their (survey, night, catalog) rows in one commit, statistics replace
the night's rows of `ops.night_stats` in one commit, the marts and `gold.night_status` are replaced
per night by their libraries, exports replace the night's files atomically
(`siskin.exports`), and VACUUM only deletes files that already left the tables. Each step returns a
JSON-able summary (Airflow keeps it as the task's XCom).
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings
from siskin.lake.catalog import table, tables
from siskin.orchestration.tables import NIGHT_STATS, NIGHT_STATS_SCHEMA

Summary = dict[str, Any]


def maintain_night(settings: Settings, night: int) -> Summary:
    """Compact and order the night's small streaming files (and every non-night table's), no VACUUM yet."""
    from siskin.lake.maintain import maintain

    started = time.monotonic()
    reports = maintain(settings, night=night, do_vacuum=False)
    return {
        "night": night,
        "tables": {r.table: r.to_json() for r in reports},
        "partitions_rewritten": sum(r.partitions_rewritten for r in reports),
        "seconds": round(time.monotonic() - started, 3),
    }


def loaded_catalogs(settings: Settings) -> list[str]:
    """Names of the reference catalogs loaded in the lake (`siskin catalogs load`)."""
    from siskin.science.xmatch.catalogs import list_catalogs

    return [str(name) for name in list_catalogs(settings).column("name").to_pylist()]


def night_inputs(settings: Settings, night: int) -> int:
    """Rows the lake holds for the night in bronze and the survey silver tables (Delta log statistics only:
    no data read). Zero for a night without alerts (weather, the telescope down, nothing ingested)."""
    from siskin.quality.data import night_counts

    names = ["bronze.alerts", *(s.name for s in tables(writer="silver") if s.survey is not None)]
    return sum(int(night_counts(settings, name).get(int(night), 0) or 0) for name in names)


NO_DATA = "no data for the night in bronze or silver: nothing to do (data_quality gives the verdict)"


def xmatch_night(settings: Settings, night: int) -> Summary:
    """Cross-match the night's alerts with every loaded catalog (each replaces its rows of the night)."""
    from siskin.science.xmatch.join import run_xmatch

    started = time.monotonic()
    if night_inputs(settings, night) == 0:
        return {"night": night, "skipped": NO_DATA, "catalogs": {}, "seconds": 0.0}
    runs = {name: run_xmatch(settings, name, night=night) for name in loaded_catalogs(settings)}
    return {
        "night": night,
        "catalogs": {name: {"alerts": r.alerts, "matches": r.matches} for name, r in runs.items()},
        "seconds": round(time.monotonic() - started, 3),
    }


def reclassify_nights(settings: Settings, first: int, last: int, *, force: bool = False) -> Summary:
    """Replay the nights of [first, last] bronze holds whose silver scores are not current (every one with
    `force`) through the current science modules, class history kept. A night every enabled module (and
    the class rules) already scored, after the last catalog load, is skipped without a lease or a write,
    so the step runs beside the streams; only a replay takes the silver and gold leases. Nothing to do,
    and no error, when bronze holds none of the nights."""
    from siskin.ops.reclassify import ReclassifyResult, bronze_nights, reclassify

    started = time.monotonic()
    nights = bronze_nights(settings, first, last)
    result = reclassify(settings, first, last, force=force) if nights else ReclassifyResult()
    reports = result.replayed
    return {
        "nights": [r.night for r in reports],
        "skipped": {
            str(s.night): f"scored by the current modules ({s.alerts} alerts): no replay, no lease"
            for s in result.skipped
        },
        "rescored_because": {str(n): why for n, why in result.reasons.items()},
        "leases_taken": result.leases_taken,
        "alerts": sum(r.silver_after for r in reports),
        "objects_rebuilt": sum(r.objects_rebuilt for r in reports),
        "class_changes": sum(r.class_changes for r in reports),
        "seconds": round(time.monotonic() - started, 3),
    }


def reclassify_night(settings: Settings, night: int) -> Summary:
    """Reclassify the night with the current science modules when its scores are not current (a replay of
    it; see `reclassify_nights`), else record it as skipped."""
    return {"night": night, **reclassify_nights(settings, night, night)}


def build_marts(settings: Settings, night: int) -> Summary:
    """dbt build of the marts for the night, published as Delta tables in gold (`siskin marts build`)."""
    from siskin.marts import build

    if night_inputs(settings, night) == 0:
        return {"night": night, "skipped": NO_DATA + "; marts unchanged", "seconds": 0.0}
    result = build(settings, night)
    return {
        "night": night,
        "rows": result.rows,
        "dbt": result.statuses,
        "warnings": result.warnings,
        "docs": result.docs,
        "seconds": result.seconds,
    }


def check_quality(settings: Settings, night: int) -> Summary:
    """The night's data-quality suites: `gold.night_status` says ok or suspect; a suspect night raises
    `QualityError` naming the failed checks (the data are kept), which fails the task. A night without
    any data is `no_data` (a success: surveys have nights without alerts), unless most of the trailing
    nights had alerts: then it is suspect, like any volume anomaly."""
    from siskin.quality import run_night

    result = run_night(settings, night, empty_ok=True)
    return {
        "night": night,
        "status": result.status,
        "checks": len(result.outcomes),
        "alerts": result.alerts,
        "report": result.report,
        "data_docs": result.data_docs,
        "notes": result.notes,
        "seconds": round(result.seconds, 3),
    }


def _night_rows(name: str, settings: Settings, night: int, columns: list[str]) -> pa.Table | None:
    """The night's rows of a night-partitioned table (only `columns`), None when the table does not exist."""
    from siskin.lake.transactions import open_table

    delta = open_table(table(name).path(settings.lake_uri))
    if delta is None:
        return None
    return delta.to_pyarrow_table(partitions=[("night", "=", str(night))], columns=columns)


def _grouped(data: pa.Table, column: str) -> list[tuple[str, int]]:
    """(value as text, rows) per distinct value of a column, nulls as ""."""
    counts = pc.value_counts(data.column(column)).to_pylist()
    return [("" if c["values"] is None else str(c["values"]), int(c["counts"])) for c in counts]


def night_figures(settings: Settings, night: int) -> pa.Table:
    """The night's statistics as `ops.night_stats` rows, computed column-wise from the lake's tables."""
    from siskin.alerts.registry import codecs

    rows: list[tuple[str, str, str, int]] = []
    bronze = _night_rows("bronze.alerts", settings, night, ["night"])
    if bronze is not None:
        rows.append(("", "bronze_inputs", "", bronze.num_rows))
    for codec in codecs():
        band = "fid" if codec.name == "ztf" else "band"
        silver = _night_rows(codec.silver_table, settings, night, [codec.object_key, band, "quality_ok"])
        if silver is None:
            continue
        rows.append((codec.name, "alerts", "", silver.num_rows))
        rows.append((codec.name, "objects", "", pc.count_distinct(silver.column(codec.object_key)).as_py()))
        rows.append((codec.name, "quality_ok", "", int(pc.sum(silver.column("quality_ok")).as_py() or 0)))
        rows += [(codec.name, "alerts_per_band", value, n) for value, n in _grouped(silver, band)]
    rejects = _night_rows("silver.rejects", settings, night, ["reason_code"])
    if rejects is not None:
        rows.append(("", "rejects", "", rejects.num_rows))
        rows += [("", "rejects_per_reason", value, n) for value, n in _grouped(rejects, "reason_code")]
    matches = _night_rows("silver.xmatch", settings, night, ["survey", "catalog"])
    if matches is not None and matches.num_rows:
        pairs = pc.binary_join_element_wise(matches.column("survey"), matches.column("catalog"), "\t")
        for value, n in _grouped(pa.table({"pair": pairs}), "pair"):
            survey, catalog = value.split("\t", 1)
            rows.append((survey, "xmatch_matches", catalog, n))
    rows.sort()
    return pa.Table.from_pylist(
        [{"night": night, "survey": s, "metric": m, "key": k, "value": v} for s, m, k, v in rows],
        NIGHT_STATS_SCHEMA,
    )


def night_statistics(settings: Settings, night: int) -> Summary:
    """Replace the night's rows of `ops.night_stats` with freshly computed figures, in one commit."""
    from deltalake import write_deltalake

    from siskin.lake.transactions import ensure_table, forget_table

    started = time.monotonic()
    figures = night_figures(settings, night)
    uri = NIGHT_STATS.path(settings.lake_uri)
    ensure_table(uri, NIGHT_STATS_SCHEMA, NIGHT_STATS.partition_by, NIGHT_STATS.description)
    write_deltalake(uri, figures, mode="overwrite", predicate=f"night = {int(night)}")
    forget_table(uri)
    alerts = pc.sum(pc.filter(figures.column("value"), pc.equal(figures.column("metric"), "alerts")))
    return {
        "night": night,
        "rows": figures.num_rows,
        "alerts": int(alerts.as_py() or 0),
        "seconds": round(time.monotonic() - started, 3),
    }


def export_night(settings: Settings, night: int) -> Summary:
    """Write the night's export of every configured spec (each replaces that night's export atomically)."""
    from siskin.exports import run_all

    started = time.monotonic()
    if night_inputs(settings, night) == 0:
        return {"night": night, "skipped": NO_DATA + "; no export written", "exports": {}, "seconds": 0.0}
    manifests = run_all(settings, night)
    return {
        "night": night,
        "exports": {
            m.spec: {"who": m.who, "rows": m.rows, "files": len(m.files), "location": m.location}
            for m in manifests
        },
        "seconds": round(time.monotonic() - started, 3),
    }


def vacuum_lake(settings: Settings, night: int) -> Summary:
    """VACUUM every table per `maintain.retention_hours` (files that left the tables longer ago than that)."""
    from siskin.lake.maintain import TableMaintenance, check_retention, vacuum
    from siskin.lake.transactions import current_table
    from siskin.ops.lease import acquire

    started = time.monotonic()
    hours = check_retention(settings, None, force=False)
    leases = acquire(settings.lake_uri, ["maintain"], "nightly vacuum")
    try:
        reports = []
        for spec in tables():
            report = TableMaintenance(spec.name)
            uri = spec.path(settings.lake_uri)
            if current_table(uri) is not None:
                vacuum(uri, hours, report)
            reports.append(report)
    finally:
        for lease in leases:
            lease.release()
    return {
        "night": night,
        "retention_hours": hours,
        "vacuumed_files": {r.table: r.vacuumed_files for r in reports if r.vacuumed_files},
        "seconds": round(time.monotonic() - started, 3),
    }
