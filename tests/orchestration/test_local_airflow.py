"""`siskin airflow` set-up: generated secrets, passwords (kept, private), loopback, SQLite or PostgreSQL."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from siskin.config import Settings
from siskin.orchestration.local import PASSWORDS_FILE, airflow_home, prepare


def test_passwords_are_generated_private_and_kept(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake", airflow={"users": {"ada": "admin", "bob": "viewer"}})
    first = prepare(settings)
    assert first.home == tmp_path / "lake" / "_airflow"
    assert set(first.passwords) == {"ada", "bob"}
    assert all(len(p) >= 16 and p not in ("admin", "ada", "bob") for p in first.passwords.values())
    assert first.passwords["ada"] != first.passwords["bob"]
    written = first.home / PASSWORDS_FILE
    assert json.loads(written.read_text()) == first.passwords
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    again = prepare(settings)
    assert again.passwords == first.passwords
    assert again.env["AIRFLOW__API_AUTH__JWT_SECRET"] == first.env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert first.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "ada:admin,bob:viewer"
    assert first.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"


def test_two_homes_get_different_secrets(tmp_path: Path) -> None:
    one = prepare(Settings(lake=tmp_path / "a"))
    two = prepare(Settings(lake=tmp_path / "b"))
    assert one.passwords["admin"] != two.passwords["admin"]
    assert one.env["AIRFLOW__API_AUTH__JWT_SECRET"] != two.env["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_serves_on_loopback_with_sqlite_by_default(tmp_path: Path) -> None:
    local = prepare(Settings(lake=tmp_path / "lake"), port=18123)
    env = local.env
    assert local.url == "http://127.0.0.1:18123"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == local.url  # tasks reach the API server on its real port
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{local.url}/execution/"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{local.home / 'airflow.db'}"
    assert env["SISKIN_LAKE"] == str((tmp_path / "lake").resolve())
    assert Path(env["AIRFLOW__CORE__DAGS_FOLDER"], "nightly_dag.py").is_file()


def test_postgres_and_home_by_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg2://airflow:s3cret@db.example:5432/airflow"
    monkeypatch.setenv("SISKIN_AIRFLOW__DATABASE_URL", url)
    monkeypatch.setenv("SISKIN_AIRFLOW__HOME", str(tmp_path / "state"))
    settings = Settings(lake="s3://bucket/lake")
    assert "s3cret" not in repr(settings.airflow)  # a secret, never printed with the settings
    local = prepare(settings)
    assert local.home == tmp_path / "state"
    assert local.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    # the driver is installed: SQLAlchemy builds an engine on psycopg2 for that URL (no server needed,
    # nothing connects until the engine is used)
    import psycopg2
    from sqlalchemy import create_engine

    engine = create_engine(local.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        assert engine.dialect.driver == "psycopg2"
        assert engine.dialect.dbapi is psycopg2
        assert engine.url.host == "db.example" and engine.url.database == "airflow"
    finally:
        engine.dispose()


def test_object_store_lake_keeps_state_in_the_user_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert airflow_home(Settings(lake="s3://bucket/lake")) == tmp_path / ".siskin" / "airflow"


def test_cli_registers_airflow_and_its_test_command() -> None:
    from siskin.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["airflow", "--port", "18080"])
    assert args.func.__name__ == "cmd_airflow_start" and args.port == 18080
    args = parser.parse_args(["airflow", "test", "nightly", "--night", "20261121"])
    assert args.func.__name__ == "cmd_airflow_test" and args.night == 20261121
