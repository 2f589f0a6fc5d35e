"""
### data_quality

The night's data-quality checks on their own (manual, `{"night": YYYYMMDD}`): the expectation suites of
bronze, silver and gold and the volume check against the trailing nights. The verdict (ok or suspect,
with the failed checks) replaces the night's row of `gold.night_status`; Data Docs and the one-page
nightly report are written under `<lake>/_reports/`. A suspect night fails the task with a readable
message; no data is deleted. A night without any alert is `no_data` (no failure), unless most of the
trailing nights had alerts (then suspect). Step body: `siskin.orchestration.nightly.check_quality`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from siskin.orchestration import dag_support as ds

ASSETS = ds.lake_assets()


@dag(
    dag_id="data_quality",
    params={"night": Param(None, type=["integer", "string"], description="YYYYMMDD")},
    doc_md=__doc__,
    **ds.manual_dag("quality"),
)
def data_quality() -> None:
    from siskin.config import load_settings
    from siskin.orchestration.nightly import check_quality

    @task(
        doc_md="**data quality**: the night's suites; verdict in `gold.night_status`, Data Docs, report.",
        retries=0,
        retry_exponential_backoff=2.0,
        inlets=[ASSETS["bronze.alerts"], ASSETS["silver.alerts"], ASSETS["gold.objects"]],
        outlets=[ASSETS["gold.night_status"]],
    )
    def check() -> dict:
        return check_quality(load_settings(), ds.run_night())

    check()


data_quality()
