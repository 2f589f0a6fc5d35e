"""`siskin demo`: a simulated night through every layer, then the nightly DAG for it, as a user runs it.

Slow (embedded broker, streaming queries, the SQL endpoint and dbt, data quality, an export): several
minutes on this machine. `--no-nightly` stops once the layers are up to date.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parents[2]
ALERTS = 300


def _demo(lake: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SISKIN_"))}
    env["PYSPARK_PYTHON"] = sys.executable
    command = [sys.executable, "-m", "siskin.cli.main", "--lake", str(lake), "demo", "--alerts", str(ALERTS)]
    return subprocess.run(
        [*command, "--rate", "300", *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )


@pytest.mark.slow
def test_demo_runs_the_nightly_dag_for_the_simulated_night(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    proc = _demo(lake)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    night = int(re.search(r"night (\d{8}): published (\d+) alerts", out).group(1))  # type: ignore[union-attr]
    assert f"nightly DAG for night {night}: success" in out
    for step in (
        "maintain",
        "xmatch",
        "reclassify",
        "dbt",
        "data_quality",
        "statistics",
        "exports",
        "vacuum",
    ):
        assert re.search(rf"^  {step} +success +\d+\.\d s", out, re.M), step
    # where the outputs are: every path printed exists
    paths = {
        what: Path(where.removeprefix("file://"))
        for what, where in re.findall(r"^(nightly report|Data Docs|dbt docs|export [^:]+): (\S+)$", out, re.M)
    }
    assert {"nightly report", "Data Docs", "dbt docs"} <= set(paths)
    assert all(p.exists() for p in paths.values()), paths
    [export] = [p for what, p in paths.items() if what.startswith("export demo_good_alerts")]
    assert (export / "_manifest.json").is_file()
    good = DeltaTable(str(lake / "silver" / "alerts")).to_pyarrow_table(columns=["quality_ok", "night"])
    exported = sum(pq.read_metadata(f).num_rows for f in export.glob("*.parquet"))
    assert exported == sum(1 for ok, n in zip(*good.to_pydict().values(), strict=True) if ok and n == night)
    # the mart query's result: tonight's row of gold.nightly_summary with every alert
    assert 'siskin sql "SELECT night, n_alerts' in out
    row = re.search(rf"^\s*{night}\s+(\d+)\s+(\d+)", out, re.M)
    assert row is not None and int(row.group(1)) == ALERTS, out[-3000:]
    status = DeltaTable(str(lake / "gold" / "night_status")).to_pyarrow_table().to_pylist()
    assert [(r["night"], r["status"]) for r in status] == [(night, "ok")]
    assert "siskin airflow --lake" in out
