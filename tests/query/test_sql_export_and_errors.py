"""`siskin sql`: results to standard output, columns without unique names, and user errors on one line."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sql_lake import ALERTS, NIGHT

from siskin.cli.main import main
from siskin.query.export import unique_names

COUNTS = "SELECT (SELECT count(*) FROM silver.alerts), (SELECT count(*) FROM silver.rejects)"


def _sql(lake: Path, *args: str) -> int:
    return main(["--lake", str(lake), "sql", *args])


def test_csv_and_json_without_out_go_to_standard_output(small_lake: Path, capsys) -> None:  # noqa: ANN001
    query = "SELECT night, count(*) AS n FROM silver.alerts GROUP BY night"
    assert _sql(small_lake, query, "--format", "csv") == 0
    out = capsys.readouterr().out
    assert list(csv.reader(io.StringIO(out))) == [["night", "n"], [str(NIGHT), str(ALERTS)]]
    assert _sql(small_lake, query, "--format", "json") == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"night": NIGHT, "n": ALERTS}
    ]


def test_unnamed_and_repeated_columns_export_with_unique_names(
    small_lake: Path,
    tmp_path: Path,
    capsys,  # noqa: ANN001
) -> None:
    names = ["scalarsubquery()", "scalarsubquery()_2"]
    out = tmp_path / "f.csv"
    assert _sql(small_lake, COUNTS, "--format", "csv", "--out", str(out)) == 0
    assert list(csv.reader(out.open())) == [names, [str(ALERTS), "0"]]
    assert _sql(small_lake, COUNTS, "--format", "parquet", "--out", str(tmp_path / "f.parquet")) == 0
    assert pq.read_table(tmp_path / "f.parquet").to_pylist() == [dict(zip(names, [ALERTS, 0], strict=True))]
    capsys.readouterr()
    assert _sql(small_lake, COUNTS, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == dict(zip(names, [ALERTS, 0], strict=True))
    assert _sql(small_lake, "SELECT 1 AS n, 2 AS n, 3 AS N") == 0
    assert capsys.readouterr().out.split("\n")[0].split() == ["n", "n_2", "N_3"]


def test_unique_names_keep_first_names_and_skip_taken_ones() -> None:
    assert unique_names(["a", "a", "a_2", ""]) == ["a", "a_3", "a_2", "col4"]
    assert unique_names(["x", "X", "col2"]) == ["x", "X_2", "col2"]


def test_csv_writes_nested_values_as_json_and_binary_as_base64(small_lake: Path, capsys) -> None:  # noqa: ANN001
    query = (
        "SELECT a.candid, a.prv_candidates, c.cutoutScience_stampData AS stamp FROM silver.alerts a "
        "JOIN silver.cutouts c ON a.candid = c.candid ORDER BY a.candid LIMIT 1"
    )
    assert _sql(small_lake, query, "--format", "csv") == 0
    [header, row] = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert header == ["candid", "prv_candidates", "stamp"]
    history = json.loads(row[1])
    assert isinstance(history, list) and history and "jd" in history[0]
    assert gzip.decompress(base64.b64decode(row[2]))[:6] == b"SIMPLE"  # the FITS file inside


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["SELECT * FORM silver.alerts"], "PARSE_SYNTAX_ERROR"),
        (["SELECT * FROM silver.nope"], "Lake tables: bronze.alerts"),
        (["SELECT nope FROM silver.alerts"], "UNRESOLVED_COLUMN"),
        (
            ["SELECT objectId FROM silver.alerts JOIN silver.cutouts USING (candid)"],
            "`silver.alerts`.`objectId`",
        ),
        (["SELECT CAST(objectId AS INT) FROM silver.alerts", "--format", "csv"], "CAST_INVALID_INPUT"),
        (["SELECT (SELECT candid FROM silver.alerts)"], "SCALAR_SUBQUERY_TOO_MANY_ROWS"),
        ([COUNTS, "--format", "parquet"], "--format parquet writes a binary file: give --out FILE"),
        (
            [COUNTS, "--format", "csv", "--out", "/nonexistent/dir/f.csv"],
            "folder /nonexistent/dir does not exist",
        ),
        ([COUNTS, "--out", "f.txt"], "--out needs --format csv, json or parquet"),
    ],
)
def test_user_errors_are_one_line_and_status_2(
    small_lake: Path,
    capsys,  # noqa: ANN001
    args: list[str],
    expected: str,
) -> None:
    assert _sql(small_lake, *args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siskin: error: "), captured.err
    assert expected in lines[0] and "Traceback" not in captured.err and "silver__" not in lines[0]
    assert captured.out == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--format", "xml"], "invalid choice: 'xml'"), (["--limit", "-1"], "must be 0 or more"), ([], "")],
)
def test_bad_flag_values_are_usage_errors(
    small_lake: Path,
    capsys,  # noqa: ANN001
    args: list[str],
    expected: str,
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--lake", str(small_lake), "sql", *([COUNTS] if args else []), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: siskin sql" in err and expected in err and "Traceback" not in err
