"""Run one of the project's DAGs in this process (`dag.test()`), against a local Airflow's metadata database.

Airflow reads its configuration when first imported: `configure` puts the environment in place first,
so call it before anything imports `airflow`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from siskin.config import Settings
from siskin.errors import SiskinError
from siskin.orchestration.local import LocalAirflow, prepare


def configure(settings: Settings) -> LocalAirflow:
    """Prepare the local Airflow home and export its environment into this process."""
    import sys

    local = prepare(settings)
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != local.env["AIRFLOW_HOME"]:
        raise SiskinError(
            "airflow was imported before its home was configured: run the DAG in a fresh process"
        )
    os.environ.update(local.env)
    return local


def init_db() -> None:
    """Create or upgrade the metadata database of the configured home."""
    from airflow.utils.db import initdb

    initdb()


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a project DAG once with `dag.test`; an error naming the failed tasks unless it is green."""
    from airflow.dag_processing.dagbag import DagBag

    started = time.monotonic()
    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SiskinError(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise SiskinError(f"no DAG {dag_id!r}; the project has {sorted(bag.dags)}")
    run = dag.test(run_conf=conf or {})
    far = datetime.max.replace(tzinfo=UTC)
    instances = sorted(run.get_task_instances(), key=lambda ti: (ti.start_date or far, ti.task_id))
    states = {ti.task_id: str(ti.state) for ti in instances}
    failed = sorted(task for task, state in states.items() if state == "failed")
    other = sorted(task for task, state in states.items() if state not in ("success", "failed"))
    if str(run.state) != "success" or failed or other:
        raise SiskinError(
            f"DAG {dag_id} run {run.run_id} ended {run.state}; failed: {failed}"
            + (f", not run: {other}" if other else "")
            + " (the task's log above says why)"
        )
    return {
        "dag_id": dag_id,
        "run_id": run.run_id,
        "state": str(run.state),
        "tasks": states,
        "task_seconds": {ti.task_id: round(float(ti.duration or 0.0), 1) for ti in instances},
        "summaries": task_summaries(dag_id, run.run_id),
        "seconds": round(time.monotonic() - started, 1),
    }


def task_summaries(dag_id: str, run_id: str) -> dict[str, Any]:
    """Each task's returned summary (its XCom `return_value`) in a run, by task id."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, dag_ids=dag_id, key="return_value")
        rows: list[Any] = list(session.scalars(query).all())
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}
