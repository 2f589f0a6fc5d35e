"""No default secrets in the deployment: compose requires each; `siskin deploy init` generates them once."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from siskin.cli.deploy import GENERATED, init_env, read_env
from tests.deploy.test_compose import COMPOSE, ROOT, _environment, interpolate

SECRETS = ("MINIO_ROOT_PASSWORD", "AIRFLOW_DB_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY")
AIRFLOW = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")


@pytest.fixture(scope="module")
def dotenv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("secrets") / ".env"
    init_env(path)
    return read_env(path)


@pytest.fixture(scope="module")
def services(dotenv: dict[str, str]) -> dict[str, dict[str, Any]]:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), dotenv))["services"]


def test_every_secret_is_required_never_defaulted() -> None:
    text = COMPOSE.read_text()
    for name in (*SECRETS, "AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"):
        uses = re.findall(rf"(?<!\$)\$\{{{name}([^}}]*)\}}", text)  # $${VAR}: the shell's, at run time
        assert uses, f"{name} is not used"
        assert all(use.startswith(":?") for use in uses), f"{name} has a fallback: {uses}"
    for old_default in ("siskin-lake-secret", "siskin-local-jwt-secret", ":-airflow}"):
        assert old_default not in text


@pytest.mark.parametrize("missing", [*SECRETS, "AIRFLOW_ADMIN_PASSWORD"])
def test_compose_refuses_to_start_without_a_secret(dotenv: dict[str, str], missing: str) -> None:
    with pytest.raises(KeyError, match=missing):
        interpolate(COMPOSE.read_text(), {k: v for k, v in dotenv.items() if k != missing})


def test_generated_secrets_reach_the_services(
    services: dict[str, dict[str, Any]], dotenv: dict[str, str]
) -> None:
    minio = _environment(services["minio"])
    assert minio["MINIO_ROOT_PASSWORD"] == dotenv["MINIO_ROOT_PASSWORD"]
    assert _environment(services["silver"])["AWS_SECRET_ACCESS_KEY"] == dotenv["MINIO_ROOT_PASSWORD"]
    assert _environment(services["postgres"])["POSTGRES_PASSWORD"] == dotenv["AIRFLOW_DB_PASSWORD"]
    for name in AIRFLOW:
        env = _environment(services[name])
        assert f":{dotenv['AIRFLOW_DB_PASSWORD']}@postgres:" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == dotenv["AIRFLOW_JWT_SECRET"]
        assert env["AIRFLOW__CORE__FERNET_KEY"] == dotenv["AIRFLOW_FERNET_KEY"]


def test_airflow_has_named_users_not_everyone_admin(
    services: dict[str, dict[str, Any]], dotenv: dict[str, str]
) -> None:
    for name in AIRFLOW:
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"].lower() == "false", name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager"), name
        users = dict(
            item.split(":")[:2] for item in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")
        )
        assert users == {dotenv["AIRFLOW_ADMIN_USER"]: "admin"}, name
    assert dotenv["AIRFLOW_ADMIN_USER"] != "admin" or dotenv["AIRFLOW_ADMIN_PASSWORD"] != "admin"


def test_airflow_runs_the_project_image_so_dags_import_siskin(services: dict[str, dict[str, Any]]) -> None:
    for name in AIRFLOW:
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert svc["image"].startswith("siskin:"), name
        assert _environment(svc)["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags", name


def test_entrypoint_writes_the_admin_password_file_then_runs_airflow(
    services: dict[str, dict[str, Any]], dotenv: dict[str, str], tmp_path: Path
) -> None:
    entrypoint = services["airflow-apiserver"]["entrypoint"]
    assert entrypoint[:2] == ["/usr/bin/tini", "--"]
    home = tmp_path / "airflow"
    bin_dir = tmp_path / "bin"  # an `airflow` that reports its arguments (the real one takes ~10 s to start)
    bin_dir.mkdir()
    (bin_dir / "airflow").write_text('#!/bin/sh\necho "airflow called with: $*"\n')
    (bin_dir / "airflow").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW_ADMIN_USER": dotenv["AIRFLOW_ADMIN_USER"],
        "AIRFLOW_ADMIN_PASSWORD": dotenv["AIRFLOW_ADMIN_PASSWORD"],
    }
    result = subprocess.run(
        [*entrypoint[2:], *services["airflow-apiserver"]["command"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "airflow called with: api-server"
    written = home / "passwords.json"
    assert json.loads(written.read_text()) == {dotenv["AIRFLOW_ADMIN_USER"]: dotenv["AIRFLOW_ADMIN_PASSWORD"]}
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_deploy_init_generates_once_and_keeps_values(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    path = tmp_path / ".env"
    added = init_env(path)
    assert set(added) == set(GENERATED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = read_env(path)
    Fernet(first["AIRFLOW_FERNET_KEY"].encode())  # a valid key, or this raises
    assert all(len(first[name]) >= 24 for name in SECRETS)
    assert init_env(path) == {}
    assert read_env(path) == first
    other = tmp_path / "other.env"
    init_env(other)
    assert all(read_env(other)[name] != first[name] for name in SECRETS)


def test_deploy_init_keeps_given_values_and_adds_the_missing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# mine\nMINIO_ROOT_PASSWORD=chosen-by-me\n")
    added = init_env(path)
    assert "MINIO_ROOT_PASSWORD" not in added
    values = read_env(path)
    assert values["MINIO_ROOT_PASSWORD"] == "chosen-by-me"
    assert set(GENERATED) <= set(values)
    assert path.read_text().startswith("# mine\n")


def test_deploy_init_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siskin.cli.main import main

    assert main(["deploy", "init", "--env-file", str(tmp_path / ".env")]) == 0
    out = capsys.readouterr().out
    values = read_env(tmp_path / ".env")
    assert values["AIRFLOW_ADMIN_PASSWORD"] in out


def test_env_file_is_ignored_and_the_example_holds_no_secret() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    example = read_env(ROOT / ".env.example")
    assert set(GENERATED) <= set(example)
    assert all(not example[name] for name in (*SECRETS, "AIRFLOW_ADMIN_PASSWORD"))
