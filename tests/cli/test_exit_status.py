"""The `siskin` process: its exit status is the command's, every time, and user errors are one line.

Batch commands run under Airflow, which trusts the exit status: a command whose work succeeded must
exit 0, never 134 from a native thread torn down with the interpreter (see `siskin.cli.process_exit`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest

ENV = {**os.environ, "PYSPARK_PYTHON": sys.executable}
STARTUP_NOISE = ("WARNING: Using incubator modules", "Setting default log level", "To adjust logging level")


def _siskin(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The installed `siskin` script (the console entry point Airflow runs), or `python -m` without one."""
    script = Path(sys.executable).with_name("siskin")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "siskin.cli.main"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def _stderr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip() and not line.startswith(STARTUP_NOISE)]


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every catalog table, created empty (delta-rs only, no Spark)."""
    from siskin.lake.catalog import tables
    from siskin.lake.transactions import ensure_table

    lake = tmp_path_factory.mktemp("cli") / "lake"
    for spec in tables():
        ensure_table(spec.path(str(lake)), spec.arrow_schema(), spec.partition_by, spec.description)
    return lake


def test_the_process_ends_with_its_status_while_arrow_threads_are_reading(tmp_path: Path) -> None:
    """Exit while a thread scans a Delta table (Arrow's I/O threads calling deltalake's Python handler).

    The interpreter's own teardown aborts (134) or hangs in Arrow's pool shutdown now and then here;
    `end_process` must return the status every time, with everything printed before it flushed.
    """
    from deltalake import write_deltalake

    table = tmp_path / "table"
    for part in range(8):
        write_deltalake(str(table), pa.table({"x": pa.array(range(part, 200_000, 8))}), mode="append")
    script = textwrap.dedent(
        f"""
        import sys, threading, time
        from deltalake import DeltaTable
        from siskin.cli.process_exit import end_process

        table = DeltaTable({str(table)!r})
        def scan():
            while True:
                table.to_pyarrow_dataset().to_table()
        threading.Thread(target=scan, daemon=True).start()
        time.sleep(float(sys.argv[1]))
        print("work done")
        end_process(3)
        """
    )
    for delay in (0.1, 0.25, 0.4, 0.55, 0.7, 0.85):
        done = subprocess.run(
            [sys.executable, "-c", script, str(delay)], capture_output=True, text=True, timeout=120, env=ENV
        )
        assert (done.returncode, done.stdout) == (3, "work done\n"), done.stderr[-2000:]
        assert "terminate called" not in done.stderr


def test_a_bad_query_is_one_line_on_stderr_and_status_2(empty_lake: Path) -> None:
    done = _siskin("--lake", str(empty_lake), "sql", "SELECT * FORM silver.alerts")
    lines = _stderr_lines(done.stderr)
    assert done.returncode == 2 and done.stdout == "", done.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("siskin: error: [PARSE_SYNTAX_ERROR]"), lines
    assert "Traceback" not in done.stderr and "\tat " not in done.stderr


def test_csv_goes_to_standard_output_with_unique_column_names(empty_lake: Path) -> None:
    query = "SELECT (SELECT count(*) FROM silver.alerts), (SELECT count(*) FROM silver.rejects)"
    done = _siskin("--lake", str(empty_lake), "sql", query, "--format", "csv")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == '"scalarsubquery()","scalarsubquery()_2"\n0,0\n'
    assert _stderr_lines(done.stderr) == []


@pytest.mark.slow
def test_ingest_files_exits_0_every_time(ztf_alert_dir: Path, tmp_path: Path) -> None:
    """The issue's reproduction: `siskin ingest files` over real alerts, repeatedly, on fresh lakes."""
    inputs = [str(ztf_alert_dir / "ztf-avro-alert"), str(ztf_alert_dir / "fink-client-multi-2021-11-22")]
    for run in range(6):
        done = _siskin("--lake", str(tmp_path / f"lake{run}"), "ingest", "files", *inputs, timeout=900)
        assert done.returncode == 0, (run, done.returncode, done.stderr[-3000:])
        assert "total: bronze 7, silver 115" in done.stdout, done.stdout
        assert "terminate called" not in done.stderr and "Traceback" not in done.stderr


def test_end_process_runs_atexit_handlers_and_a_stuck_one_cannot_keep_the_process_alive() -> None:
    script = textwrap.dedent(
        """
        import atexit, time
        from siskin.cli.process_exit import end_process

        atexit.register(time.sleep, 3600)  # registered first, runs last: stuck
        atexit.register(print, "atexit ran")
        end_process(5, grace_s=2)
        """
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=ENV)
    assert (done.returncode, done.stdout) == (5, "atexit ran\n"), done.stderr[-2000:]
    assert time.monotonic() - started < 30
