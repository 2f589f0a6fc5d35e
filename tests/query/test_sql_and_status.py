"""`siskin sql` and `siskin status` over a small lake filled from simulated alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from siskin.cli.main import main


def test_sql_prints_a_table(small_lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--lake",
                str(small_lake),
                "sql",
                "SELECT night, count(*) AS n FROM silver.alerts GROUP BY night",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "20261124" in out and "60" in out


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_sql_writes_files(small_lake: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"objects.{fmt}"
    query = "SELECT objectId, n_alerts, ra, dec FROM gold.objects ORDER BY objectId"
    assert main(["--lake", str(small_lake), "sql", query, "--format", fmt, "--out", str(out)]) == 0
    if fmt == "parquet":
        rows = pq.read_table(out).num_rows
    elif fmt == "json":
        rows = len([json.loads(line) for line in out.read_text().splitlines()])
    else:
        rows = len(out.read_text().splitlines()) - 1
    from deltalake import DeltaTable

    assert rows == DeltaTable(str(small_lake / "gold" / "objects")).to_pyarrow_table().num_rows


def test_layer_names_inside_string_literals_are_left_alone() -> None:
    from siskin.query.sql import rewrite

    sql = "SELECT 'silver.alerts' AS label, count(*) FROM silver.alerts JOIN gold.objects USING (objectId)"
    assert rewrite(sql, ["silver.alerts", "gold.objects"]) == (
        "SELECT 'silver.alerts' AS label, count(*) FROM silver__alerts JOIN gold__objects USING (objectId)"
    )


def test_status_reports_versions_rows_and_lag(small_lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lake", str(small_lake), "status"]) == 0
    out = capsys.readouterr().out
    lines = {
        line.split()[0]: line for line in out.splitlines() if line.startswith(("silver.", "gold.", "bronze."))
    }
    assert lines["silver.alerts"].split()[2] == "60"
    assert "0 commits" in lines["silver.alerts"] and "0 commits" in lines["gold.objects"]
    assert any(
        line.strip().startswith("bronze_files_") and line.endswith(": 0 files") for line in out.splitlines()
    )
