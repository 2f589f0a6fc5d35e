"""What every Siskin DAG shares: the lake's tables as Airflow Assets, retry policy, timeouts, the run's night.

Imports Airflow, so only DAG files and the `siskin airflow` command import this module.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, get_current_context

from siskin.config import Settings, load_settings
from siskin.lake.catalog import tables

# Retries with exponential backoff (1, 2, 4 min ... at most 30 min): a step that lost a race with a
# stream's commit, or found a lease held, succeeds on a later try; its work is idempotent.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "siskin",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}

# Every DAG's first possible run (a scheduled DAG does not catch up: only its latest interval runs)
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

# A nightly run starts at 12:00 UTC for the interval that began 24 h earlier: by then the ZTF night
# (UTC date D) has ended 12 h ago and Rubin's dayObs D (UTC-12 h) has just ended.
NIGHTLY_CRON = "0 12 * * *"


def asset_uri(location: str) -> str:
    """An Asset URI for a table location: object-store URIs as they are, local paths as file:// URIs."""
    return location if "://" in location else f"file://{location}"


def lake_assets(settings: Settings | None = None) -> dict[str, Asset]:
    """One Asset per lake table of the table catalog, named like the table (`silver.alerts`)."""
    lake = (settings or load_settings()).lake_uri
    return {
        spec.name: Asset(name=spec.name, uri=asset_uri(spec.path(lake)), group="siskin-lake", extra={})
        for spec in tables()
    }


def mart_tables() -> list[str]:
    """The dbt marts' tables in gold (declared by `siskin.marts.tables`)."""
    from siskin.marts.tables import MARTS

    return [spec.name for spec in MARTS]


def night_tables() -> list[str]:
    """The catalog tables partitioned by night (what a night's maintenance compacts)."""
    return [spec.name for spec in tables() if "night" in spec.partition_by]


def run_night() -> int:
    """The night this task's DAG run works on: its `night` parameter, else its data interval's night."""
    from siskin.orchestration.nights import resolve_night

    context = get_current_context()
    params = context.get("params") or {}
    return resolve_night(params.get("night"), context.get("data_interval_start"))


def manual_dag(*tags: str) -> dict[str, Any]:
    """The `@dag` arguments every manually triggered Siskin DAG shares: no schedule, one run at a time,
    the retry policy, the `siskin` tag (plus `tags`)."""
    return {
        "schedule": None,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "tags": ["siskin", *tags],
    }
