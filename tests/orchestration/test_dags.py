"""Every project DAG imports, has no cycle, and only wires library steps (retries, timeouts, docs, assets)."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from siskin.lake.catalog import tables

DAGS = Path(__file__).resolve().parents[2] / "dags"
NO_RETRY = {"data_quality", "check"}
NIGHTLY_STEPS = [
    "night",
    "maintain",
    "xmatch",
    "reclassify",
    "dbt",
    "data_quality",
    "statistics",
    "exports",
    "vacuum",
]
ALLOWED_IMPORTS = ("__future__", "airflow", "pendulum", "siskin.orchestration", "siskin.config", "datetime")


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_every_dag_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert {"nightly", "catalogs", "reclassify", "data_quality"} <= set(dagbag.dags)
    assert len(dagbag.dags) == len(list(DAGS.glob("*_dag.py")))


def test_no_dag_has_a_cycle(dagbag: Any) -> None:
    from airflow.utils.dag_cycle_tester import check_cycle

    for dag in dagbag.dags.values():
        check_cycle(dag)  # raises on a cycle
        assert dag.tasks, dag.dag_id


def test_nightly_runs_its_steps_in_order(dagbag: Any) -> None:
    dag = dagbag.dags["nightly"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == NIGHTLY_STEPS
    for before, after in zip(NIGHTLY_STEPS[1:], NIGHTLY_STEPS[2:], strict=False):
        assert after in dag.get_task(before).downstream_task_ids


def test_nightly_is_scheduled_after_the_night_and_takes_a_night(dagbag: Any) -> None:
    dag = dagbag.dags["nightly"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "0 12 * * *"
    assert "night" in dag.params
    assert dag.max_active_runs == 1


def test_tasks_retry_with_backoff_time_out_and_are_documented(dagbag: Any) -> None:
    for dag in dagbag.dags.values():
        assert dag.doc_md and dag.dag_id in dag.doc_md, dag.dag_id
        for task in dag.tasks:
            where = f"{dag.dag_id}.{task.task_id}"
            # a failed data-quality check is not transient: it fails at once, every other task retries
            assert task.retries >= 1 or task.task_id in NO_RETRY, where
            assert task.retry_exponential_backoff, where
            assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=24), where
            assert task.doc_md and len(task.doc_md) > 20, where


def test_assets_are_the_catalog_tables(dagbag: Any) -> None:
    known = {spec.name for spec in tables()}
    seen = set()
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            for asset in [*task.inlets, *task.outlets]:
                assert asset.name in known, f"{dag.dag_id}.{task.task_id}: {asset.name}"
                assert asset.uri.endswith(asset.name.replace(".", "/")), asset.uri
                seen.add(asset.name)
    assert {
        "silver.xmatch",
        "ops.night_stats",
        "silver.alerts",
        "gold.night_status",
        "gold.candidates",
    } <= seen


def test_dag_files_hold_no_business_logic() -> None:
    """DAG files import only Airflow and `siskin.orchestration`, and define no module-level functions."""
    for path in DAGS.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                )
                assert all(n.startswith(ALLOWED_IMPORTS) for n in names), f"{path.name}: imports {names}"
        top_level = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert len(top_level) == 1, f"{path.name}: one DAG function per file, found {top_level}"
        assert sum(1 for _ in ast.walk(tree)) < 800, f"{path.name} is too large to be thin wiring"
