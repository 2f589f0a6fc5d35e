"""
### nightly

The night's work on the lake, in order, once the night has ended (12:00 UTC for the interval that began
24 h earlier). Trigger with `{"night": YYYYMMDD}` to (re)run any night; `airflow backfill create
--dag-id nightly --from-date ... --to-date ...` backfills a range. Every step is idempotent: rerunning a
night leaves the same tables. The step bodies are `siskin.orchestration.nightly` functions.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from siskin.orchestration import dag_support as ds

ASSETS = ds.lake_assets()


@dag(
    dag_id="nightly",
    schedule=CronDataIntervalTimetable(ds.NIGHTLY_CRON, timezone="UTC"),
    start_date=ds.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=ds.DEFAULT_ARGS,
    params={
        "night": Param(None, type=["null", "integer", "string"], description="YYYYMMDD; empty: the run's")
    },
    doc_md=__doc__,
    tags=["siskin", "nightly"],
)
def nightly() -> None:
    from siskin.config import load_settings
    from siskin.orchestration import nightly as steps

    @task(doc_md="Which night this run works on: the `night` parameter, else the data interval's UTC date.")
    def night() -> int:
        return ds.run_night()

    @task(
        doc_md="**maintain**: compact and order the night's small streaming files "
        "(`siskin maintain --night`).",
        inlets=[ASSETS[name] for name in ds.night_tables()],
        outlets=[ASSETS[name] for name in ds.night_tables()],
    )
    def maintain(night: int) -> dict:
        return steps.maintain_night(load_settings(), night)

    @task(
        doc_md="**cross-match**: the night's alerts against every loaded catalog (`siskin xmatch --night`); "
        "each catalog's rows of the night are replaced in one commit.",
        inlets=[ASSETS["silver.alerts"], ASSETS["silver.rubin_alerts"]],
        outlets=[ASSETS["silver.xmatch"]],
    )
    def xmatch(night: int) -> dict:
        return steps.xmatch_night(load_settings(), night)

    @task(
        doc_md="**reclassify**: a night whose silver rows every enabled module (and the class rules) "
        "scored at its current version, after the last catalog load, is skipped: no lease, no write (the "
        "summary says so). Otherwise the night is replayed through the current modules (`siskin "
        "reclassify`); objects whose class changed get a `gold.class_history` row, earlier classes kept. "
        "Only a replay takes the silver and gold leases: it waits (retries) while the streams hold them.",
        inlets=[ASSETS["bronze.alerts"]],
        outlets=[ASSETS["silver.alerts"], ASSETS["silver.rubin_alerts"], ASSETS["gold.objects"]],
    )
    def reclassify(night: int) -> dict:
        return steps.reclassify_night(load_settings(), night)

    @task(
        doc_md="**dbt**: `dbt build` of the marts (staging, intermediate, marts, with their tests) via "
        "the SQL endpoint, published as Delta tables in gold (`siskin marts build`); dbt docs refreshed.",
        inlets=[ASSETS["silver.alerts"], ASSETS["gold.objects"]],
        outlets=[ASSETS[name] for name in ds.mart_tables()],
    )
    def dbt(night: int) -> dict:
        return steps.build_marts(load_settings(), night)

    @task(
        doc_md="**data quality**: the night's expectation suites (bronze, silver, gold, volume); the verdict "
        "goes to `gold.night_status`, Data Docs and the nightly report are written. A suspect night fails "
        "this task with the failed checks named (no retry: the data would not change); nothing is deleted.",
        retries=0,
        outlets=[ASSETS["gold.night_status"]],
    )
    def data_quality(night: int) -> dict:
        return steps.check_quality(load_settings(), night)

    @task(
        doc_md="**statistics**: the night's figures (alerts, objects, per band, quality, rejects, matches) "
        "replace its rows of `ops.night_stats`.",
        outlets=[ASSETS["ops.night_stats"]],
    )
    def statistics(night: int) -> dict:
        return steps.night_statistics(load_settings(), night)

    @task(
        doc_md="**exports**: every configured export spec writes the night (Parquet, CSV or VOTable) with "
        "its manifest last; a rerun replaces the night's export atomically (`siskin export`).",
        inlets=[ASSETS["silver.alerts"], ASSETS["gold.objects"]],
    )
    def exports(night: int) -> dict:
        return steps.export_night(load_settings(), night)

    @task(doc_md="**vacuum**: delete files that left the tables more than `maintain.retention_hours` ago.")
    def vacuum(night: int) -> dict:
        return steps.vacuum_lake(load_settings(), night)

    n = night()
    in_order = [
        maintain(n),
        xmatch(n),
        reclassify(n),
        dbt(n),
        data_quality(n),
        statistics(n),
        exports(n),
        vacuum(n),
    ]
    for before, after in zip(in_order, in_order[1:], strict=False):
        before >> after


nightly()
