"""The demo's nightly run: the DAG's tasks see the demo's settings, and a failed task fails it loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from siskin.config import CatalogSettings, Settings, load_settings
from siskin.pipeline.demo import DEMO_EXPORT, nightly_environment, with_demo_export
from tests.orchestration.test_empty_night import EMPTY, _lake_with, _night

ROOT = Path(__file__).resolve().parents[2]


def test_the_dag_tasks_read_the_demos_settings_from_the_environment(
    tmp_path: Path, monkeypatch: object
) -> None:
    science = Settings().science
    settings = Settings(
        lake=tmp_path / "lake",
        science=science.model_copy(
            update={
                "catalogs": {**science.catalogs, "sim_variables": CatalogSettings(id="name", type="VType")},
                "module_config": {"catalog_labels": {"vsx": ["vsx", "sim_variables"]}},
            }
        ),
    )
    demo = with_demo_export(settings)
    assert list(demo.exports.specs) == [DEMO_EXPORT] and demo.exports.specs[DEMO_EXPORT].format == "parquet"
    assert with_demo_export(demo).exports.specs == demo.exports.specs  # a configured spec is kept as is
    env = nightly_environment(demo)
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        seen = load_settings()  # what a task of the DAG reads
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert seen.lake_uri == demo.lake_uri
    assert seen.science.catalogs == demo.science.catalogs
    assert seen.science.module_config == demo.science.module_config
    assert seen.exports.specs == demo.exports.specs


@pytest.mark.slow  # a fresh Airflow home in a fresh process: ~75 s here
def test_a_failing_nightly_fails_the_demos_nightly_step(tmp_path: Path) -> None:
    settings = _lake_with(tmp_path, [_night(-i) for i in range(1, 6)])  # tonight empty: suspect
    code = (
        "from siskin.config import Settings\n"
        "from siskin.pipeline.demo import run_nightly\n"
        f"run_nightly(Settings(lake={settings.lake_uri!r}), {EMPTY})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SISKIN_"))}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "SiskinError" in last and "failed: ['data_quality'], not run: [" in last, last
    assert "'exports'" in last.split("not run:")[1]  # the steps after it did not run
    assert f"night {EMPTY} is suspect" in proc.stdout  # the task's readable message, in its log
