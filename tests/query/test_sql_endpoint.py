"""The warm SQL endpoint (`siskin serve sql`): lake tables over HiveServer2, fresh per query, loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from siskin.config import Settings
from siskin.errors import ConfigurationError
from siskin.query import endpoint as ep
from siskin.query.lake_source import Bound, live_files


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "broker.example.org"])
def test_refuses_a_non_loopback_bind_without_authentication(tmp_path: Path, host: str) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), sql_endpoint={"host": host})
    with pytest.raises(ConfigurationError, match="without authentication"):
        ep.serve(settings)
    with pytest.raises(ConfigurationError, match="without authentication"):
        ep.start(settings)
    assert not (tmp_path / "lake" / "_sql_endpoint" / ep.STATE_FILE).exists()


def test_cli_refuses_a_public_bind_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siskin.cli.main import main

    status = main(["--lake", str(tmp_path / "lake"), "serve", "sql", "--host", "0.0.0.0"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to serve SQL on 0.0.0.0 without authentication" in err[0]


def test_ldap_needs_a_server_and_loopback_needs_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ldap_url"):
        ep.check_auth(Settings(lake=str(tmp_path), sql_endpoint={"host": "0.0.0.0", "auth": "ldap"}))
    ep.check_auth(
        Settings(lake=str(tmp_path), sql_endpoint={"host": "0.0.0.0", "auth": "ldap", "ldap_url": "ldap://x"})
    )
    ep.check_auth(Settings(lake=str(tmp_path), sql_endpoint={"host": "127.0.0.1"}))
    assert ep.is_loopback("::1") and ep.is_loopback("127.0.0.2") and not ep.is_loopback("10.0.0.1")


def test_running_is_none_without_a_live_endpoint(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    assert ep.running(settings) is None
    state = ep.state_dir(settings)
    state.mkdir(parents=True)
    # a state file left by a dead process (pid 0 is never a user process; the port is closed)
    (state / ep.STATE_FILE).write_text(
        json.dumps({"host": "127.0.0.1", "port": 9, "pid": 2**22 + 12345, "lake": settings.lake_uri,
                    "auth": "none", "started_at": 0.0})
    )  # fmt: skip
    assert ep.running(settings) is None


def test_live_files_prune_by_partition_and_statistics(tmp_path: Path) -> None:
    """The data source plans over the latest version and skips files a pushed filter excludes."""
    uri = str(tmp_path / "t")
    schema = pa.schema([("objectId", pa.string()), ("mag", pa.float64()), ("night", pa.int32())])
    for night, ids in ((1, ["A", "B"]), (2, ["C", "D"]), (2, ["E", "F"])):
        data = pa.table({"objectId": ids, "mag": [1.0, 2.0], "night": pa.array([night] * 2, pa.int32())})
        write_deltalake(uri, data, mode="append", partition_by=["night"])
    assert len(live_files(uri, schema, [])) == 3
    assert len(live_files(uri, schema, [Bound("night", "=", 2)])) == 2
    assert len(live_files(uri, schema, [Bound("objectId", "=", "E")])) == 1
    assert live_files(uri, schema, [Bound("night", "=", 1), Bound("objectId", "=", "E")]) == []
    assert len(live_files(uri, schema, [Bound("objectId", "in", ("A", "F"))])) == 2
    # a new commit is seen by the next plan: an overwrite leaves one live file
    write_deltalake(uri, pa.table({"objectId": ["Z"], "mag": [0.0], "night": pa.array([3], pa.int32())}),
                    mode="overwrite", partition_by=["night"])  # fmt: skip
    assert [values for _, values in live_files(uri, schema, [])] == [{"night": 3}]


@pytest.fixture(scope="module")
def served_lake(small_lake: Path) -> object:  # noqa: ANN001
    """An endpoint (its own process) over the small lake, on a free port; stopped after the module."""
    from siskin.broker.tansu import free_port

    settings = Settings(lake=str(small_lake))
    info = ep.start(settings, port=free_port("127.0.0.1"))
    yield settings, info
    ep.stop(settings)


def _query(settings: Settings, sql: str) -> list[tuple]:
    connection = ep.connect(settings)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        connection.close()


@pytest.mark.slow
def test_endpoint_serves_every_table_and_sees_new_commits(served_lake: tuple, small_lake: Path) -> None:
    settings, info = served_lake
    assert ep.running(settings) == info and info.host == "127.0.0.1"
    uri = str(small_lake / "silver" / "alerts")
    expected = DeltaTable(uri).to_pyarrow_table(columns=["candid"]).num_rows
    assert expected > 0
    assert _query(settings, "SELECT count(*) FROM silver.alerts") == [(expected,)]
    databases = {row[0] for row in _query(settings, "SHOW DATABASES")}
    assert {"bronze", "silver", "gold", "ops"} <= databases
    object_id = _query(settings, "SELECT objectId FROM silver.alerts ORDER BY candid LIMIT 1")[0][0]
    points = _query(settings, f"SELECT count(*) FROM gold.lightcurves WHERE objectId = '{object_id}'")
    assert points[0][0] >= 1
    # a commit made while the endpoint runs is visible to the next query, without a restart
    one = DeltaTable(uri).to_pyarrow_table().slice(0, 1)
    one = one.set_column(one.schema.get_field_index("candid"), "candid", pa.array([1], pa.int64()))
    write_deltalake(uri, one, mode="append", partition_by=["night"])
    served = ep.wait_until_current(settings, timeout_s=30)
    assert served["silver.alerts"] == DeltaTable(uri).version()
    assert _query(settings, "SELECT count(*) FROM silver.alerts") == [(expected + 1,)]
    assert _query(settings, "SELECT count(*) FROM silver.alerts WHERE candid = 1") == [(1,)]


@pytest.mark.slow
def test_siskin_sql_uses_the_running_endpoint(
    served_lake: tuple, small_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from siskin.cli.main import main

    out = tmp_path / "dbs.json"
    # `SHOW DATABASES` lists the lake's layers only on the endpoint (the local session uses temporary views)
    assert (
        main(["--lake", str(small_lake), "sql", "SHOW DATABASES", "--format", "json", "--out", str(out)]) == 0
    )
    names = {json.loads(line)["namespace"] for line in out.read_text().splitlines()}
    assert {"silver", "gold"} <= names
    capsys.readouterr()
    status = main(["--lake", str(small_lake), "sql", "SELECT * FROM silver.no_such_table"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no_such_table" in err[0]


def test_duckdb_engine_answers_from_delta_without_spark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`siskin sql --engine duckdb`: DuckDB SQL over the latest Delta versions, errors as one line."""
    from siskin.cli.main import main
    from siskin.errors import QueryError
    from siskin.marts.tables import NIGHTLY_SUMMARY
    from siskin.query.duck import run_duckdb

    lake = tmp_path / "lake"
    rows = [
        {"night": 20261124 + i, "n_alerts": 10 * (i + 1), "alerts_per_band": [("g", i)]} for i in range(3)
    ]
    data = pa.Table.from_pylist(rows, schema=NIGHTLY_SUMMARY.arrow_schema())
    write_deltalake(NIGHTLY_SUMMARY.path(str(lake)), data.slice(0, 2))
    sql = "SELECT sum(n_alerts) AS n, count(*) AS nights FROM gold.nightly_summary"
    assert run_duckdb(str(lake), sql).to_pylist() == [{"n": 30, "nights": 2}]
    write_deltalake(NIGHTLY_SUMMARY.path(str(lake)), data.slice(2), mode="append")  # the next query sees it
    assert run_duckdb(str(lake), sql).to_pylist() == [{"n": 60, "nights": 3}]
    with pytest.raises(QueryError, match="DuckDB SQL"):
        run_duckdb(str(lake), "SELECT * FROM gold.no_such_mart")
    out = tmp_path / "n.csv"
    assert (
        main(["--lake", str(lake), "sql", sql, "--engine", "duckdb", "--format", "csv", "--out", str(out)])
        == 0
    )
    assert out.read_text().splitlines() == ['"n","nights"', "60,3"]


@pytest.mark.slow
def test_closing_a_session_boots_no_metastore(served_lake: tuple) -> None:
    """dbt opens and closes a session per node: a close must not try to boot Hive's Derby metastore
    (it used to, and failed, at 0.1-1 s of CPU and a stack trace in derby.log each)."""
    settings, _ = served_lake
    for _ in range(3):
        assert _query(settings, "SELECT 1") == [(1,)]
    log = ep.state_dir(settings) / "derby" / "derby.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    assert "Failed to create database" not in text and "XBM0J" not in text
