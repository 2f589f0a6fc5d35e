"""Ctrl-C stops a long-running `siskin ingest kafka` cleanly; restarting resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

pytestmark = pytest.mark.slow


def _bronze_rows(lake: Path) -> int:
    try:
        return DeltaTable(str(lake / "bronze" / "alerts")).to_pyarrow_table(columns=["night"]).num_rows
    except TableNotFoundError:
        return 0


def test_ctrl_c_stops_cleanly_and_restart_resumes(embedded_broker, tmp_path: Path) -> None:
    from siskin.simulate.ztf import simulate_night_records
    from siskin.sources.kafka_publish import publish

    topic = "ctrl-c"
    embedded_broker.create_topic(topic, 2)
    records = list(simulate_night_records(20261125, n_alerts=600, seed=13))
    publish((p for _, p in records[:300]), topic, embedded_broker.bootstrap)
    lake = tmp_path / "lake"
    env = {
        **os.environ,
        "SISKIN_LAKE": str(lake),
        "PYSPARK_PYTHON": sys.executable,
        "SISKIN_STREAM__TRIGGER_SECONDS": "0.5",
    }
    cmd = [
        sys.executable,
        "-m",
        "siskin.cli.main",
        "ingest",
        "kafka",
        "--topic",
        topic,
        "--bootstrap",
        embedded_broker.bootstrap,
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while _bronze_rows(lake) < 300 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _bronze_rows(lake) == 300
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "stopping streaming queries" in out.decode()
    assert "Traceback" not in err.decode() and "Exception" not in err.decode(), err.decode()[:3000]

    publish((p for _, p in records[300:]), topic, embedded_broker.bootstrap)
    done = subprocess.run([*cmd, "--available-now"], env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _bronze_rows(lake) == 600
    silver = DeltaTable(str(lake / "silver" / "alerts")).to_pyarrow_table(columns=["candid"])
    assert sorted(silver.column("candid").to_pylist()) == sorted(c for c, _ in records)
    status = subprocess.run(
        [sys.executable, "-m", "siskin.cli.main", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert status.returncode == 0 and ": 0 messages" in status.stdout, status.stdout + status.stderr[-1000:]
