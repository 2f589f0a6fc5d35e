"""The cluster deployment (docker-compose.yml, deploy/) is valid and speaks Siskin's own settings keys.

Fast and engine-free: nothing is built or started. Where a compose command is installed it validates
the file; the schema and consistency checks below run everywhere.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from siskin.cli.main import build_parser
from siskin.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CLUSTER_TOML = ROOT / "deploy" / "siskin.cluster.toml"
SISKIN_DOCKERFILE = "deploy/Dockerfile"

CLUSTER_SERVICES = {
    "kafka",
    "kafka-init",
    "spark-master",
    "spark-worker",
    "bronze-kafka",
    "silver",
    "gold",
    "postgres",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "minio",
    "minio-init",
}
STREAMING_STAGES = ("bronze-kafka", "silver", "gold")


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}` (an error if unset or
    empty), `$$` for a literal `$`."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        given = env.get(name)
        op, arg = match.group(2), match.group(3) or ""
        if op in (":-", "-"):
            return given if given or (op == "-" and given is not None) else arg
        if op in (":?", "?") and not given:
            raise KeyError(f"{name}: {arg}")
        return given or ""

    return _VARIABLE.sub(value, text)


@pytest.fixture(scope="module")
def dotenv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The secrets `siskin deploy init` generates, as compose would read them from .env."""
    from siskin.cli.deploy import init_env, read_env

    path = tmp_path_factory.mktemp("deploy") / ".env"
    init_env(path)
    return read_env(path)


@pytest.fixture(scope="module")
def compose(dotenv: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), dotenv))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whichever of compose's two spellings it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _siskin_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services running the project image (built from deploy/Dockerfile)."""
    return {
        name: svc
        for name, svc in services.items()
        if isinstance(svc.get("build"), dict) and svc["build"].get("dockerfile") == SISKIN_DOCKERFILE
    }


def _siskin_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every SISKIN_* variable the compose file sets (the same value wherever it is set)."""
    found: dict[str, str] = {}
    for name, svc in services.items():
        for key, value in _environment(svc).items():
            if key.startswith("SISKIN_"):
                assert found.setdefault(key, value) == value, f"{key} differs between services (in {name})"
    return found


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _settings_field(env_name: str) -> tuple[list[str], FieldInfo]:
    """The `Settings` field an env var names (`SISKIN_A__B` -> settings.a.b), or an assertion error."""
    parts = env_name.removeprefix("SISKIN_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        assert part in model.model_fields, f"{env_name}: {'.'.join(parts[: depth + 1])} is not a Settings key"
        info = model.model_fields[part]
        if depth < len(parts) - 1:
            nested = info.annotation
            assert isinstance(nested, type) and issubclass(nested, BaseModel), (
                f"{env_name}: {'.'.join(parts[: depth + 1])} has no nested keys"
            )
            model = nested
    return parts, info


def _expected_value(info: FieldInfo, raw: str) -> Any:
    """What pydantic-settings makes of an env string: JSON for lists and dicts, lax parsing otherwise."""
    value: Any = json.loads(raw) if typing.get_origin(info.annotation) in (list, dict) else raw
    return TypeAdapter(info.annotation).validate_python(value)


def _isolate_settings(monkeypatch: pytest.MonkeyPatch, config: Path | None) -> None:
    """No SISKIN_* variable from the outside, and only the given TOML file (or none)."""
    for key in list(os.environ):
        if key.startswith("SISKIN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SISKIN_CONFIG", str(config or ROOT / "tests" / "deploy" / "no-such-siskin.toml"))


def _set_compose_env(monkeypatch: pytest.MonkeyPatch, siskin_env: dict[str, str]) -> None:
    for key, value in siskin_env.items():
        if key != "SISKIN_CONFIG":  # a path inside the containers; the tests choose the file themselves
            monkeypatch.setenv(key, value)


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


# --- the compose tool itself, where installed ---


def test_compose_cli_accepts_the_file() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed: only the schema checks ran")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# --- services ---


def test_every_cluster_service_is_described(services: dict[str, dict[str, Any]]) -> None:
    assert CLUSTER_SERVICES <= set(services), f"missing: {sorted(CLUSTER_SERVICES - set(services))}"


def test_kafka_runs_in_kraft_mode_without_zookeeper(services: dict[str, dict[str, Any]]) -> None:
    env = _environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert not [
        name
        for name, svc in services.items()
        if "zookeeper" in name or "zookeeper" in str(svc.get("image", ""))
    ]


def test_dependencies_wait_on_health_or_finished_init_jobs(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        for target, spec in depends.items() if isinstance(depends, dict) else ((t, {}) for t in depends):
            assert target in services, f"{name} depends on unknown service {target}"
            condition = (spec or {}).get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert target.endswith("-init") and services[target].get("restart") == "no", (
                    f"{name} waits for {target} to finish: it must be a one-shot -init job"
                )


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    long_running = {name for name in services if not name.endswith("-init")}
    missing = sorted(name for name in long_running if "healthcheck" not in services[name])
    assert not missing, f"no healthcheck: {missing}"


def test_streaming_stages_run_from_the_project_image(services: dict[str, dict[str, Any]]) -> None:
    siskin = _siskin_services(services)
    for stage in STREAMING_STAGES:
        assert stage in siskin, f"{stage} is not built from {SISKIN_DOCKERFILE}"
        assert _command(services[stage]) == ["siskin", "run", stage]
    assert {"spark-master", "spark-worker"} <= set(siskin), "executors need the same Python and siskin"


def test_airflow_uses_postgres_and_mounts_the_dags(services: dict[str, dict[str, Any]]) -> None:
    airflow = {name: svc for name, svc in services.items() if name.startswith("airflow-")}
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"} <= set(airflow)
    assert _command(airflow["airflow-apiserver"]) == ["api-server"]
    assert _command(airflow["airflow-scheduler"]) == ["scheduler"]
    assert _command(airflow["airflow-dag-processor"]) == ["dag-processor"]
    for name, svc in airflow.items():
        conn = _environment(svc)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert urlparse(conn).hostname == "postgres", f"{name}: {conn}"
        assert "./dags:/opt/airflow/dags" in svc["volumes"], name


# --- Siskin settings in the compose file ---


def test_siskin_env_vars_name_settings_keys(services: dict[str, dict[str, Any]]) -> None:
    for key in _siskin_env(services):
        if key != "SISKIN_CONFIG":  # the TOML file's path, read by Settings itself
            _settings_field(key)


def test_siskin_services_share_one_configuration(services: dict[str, dict[str, Any]]) -> None:
    siskin = _siskin_services(services)
    envs = {
        name: {k: v for k, v in _environment(svc).items() if k.startswith(("SISKIN_", "AWS_"))}
        for name, svc in siskin.items()
    }
    reference = envs["bronze-kafka"]
    assert {
        "SISKIN_LAKE",
        "SISKIN_SPARK__MASTER",
        "SISKIN_KAFKA__BOOTSTRAP",
        "SISKIN_KAFKA__EMBEDDED",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    } <= set(reference)
    assert {name for name, env in envs.items() if env != reference} == set()


def test_compose_env_validates_into_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    siskin_env = _siskin_env(services)
    _isolate_settings(monkeypatch, None)
    _set_compose_env(monkeypatch, siskin_env)
    settings = Settings()
    for key, raw in siskin_env.items():
        if key == "SISKIN_CONFIG":
            continue
        parts, info = _settings_field(key)
        assert functools.reduce(getattr, parts, settings) == _expected_value(info, raw), key
    assert settings.spark.master == "spark://spark-master:7077"
    assert settings.kafka.bootstrap == "kafka:9092"
    assert settings.kafka.embedded is False
    assert settings.kafka.topics == ["ztf-alerts"]
    assert settings.delta.engine == "delta-rs"


def test_cluster_lake_is_the_object_store(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate_settings(monkeypatch, None)
    _set_compose_env(monkeypatch, _siskin_env(services))
    assert Settings().lake_uri == "s3://lake/siskin"


def test_siskin_commands_are_valid_cli_invocations(services: dict[str, dict[str, Any]]) -> None:
    parser = build_parser()
    invocations = [(name, _command(svc)) for name, svc in services.items() if _command(svc)[:1] == ["siskin"]]
    assert {name for name, _ in invocations} >= set(STREAMING_STAGES)
    for name, command in invocations:
        try:
            args = parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{name}: `{shlex.join(command)}` is not a valid siskin invocation")
        assert callable(args.func), name


# --- files the deployment refers to ---


def test_build_contexts_and_dockerfiles_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        build = svc.get("build")
        if build is None:
            continue
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        assert context.is_dir(), f"{name}: build context {context}"
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).is_file(), f"{name}: {dockerfile}"


def test_dockerfile_copies_existing_paths() -> None:
    copies = re.findall(r"^COPY\s+(?!--)(.+?)\s+\S+\s*$", (ROOT / SISKIN_DOCKERFILE).read_text(), re.M)
    sources = [src for line in copies for src in line.split()]
    assert "pyproject.toml" in sources
    assert not [src for src in sources if not (ROOT / src).exists()]


def test_referenced_repository_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    text = COMPOSE.read_text()
    scripts = set(re.findall(r"(?:\./)?(?:jobs|dags)/[\w./-]*", text))
    binds = {
        str(volume).split(":", 1)[0]
        for svc in services.values()
        for volume in svc.get("volumes") or []
        if str(volume).startswith("./")
    }
    assert "./dags" in binds and "./deploy/siskin.cluster.toml" in binds
    missing = sorted(path for path in scripts | binds if not (ROOT / path).exists())
    assert not missing, f"referenced but absent: {missing}"


def test_siskin_config_names_the_mounted_cluster_toml(services: dict[str, dict[str, Any]]) -> None:
    in_container = _siskin_env(services)["SISKIN_CONFIG"]
    for name, svc in _siskin_services(services).items():
        assert f"./deploy/siskin.cluster.toml:{in_container}:ro" in svc["volumes"], name


# --- deploy/siskin.cluster.toml ---


def test_cluster_toml_loads_with_the_compose_values(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    siskin_env = _siskin_env(services)
    _isolate_settings(monkeypatch, CLUSTER_TOML)
    from_file = Settings()  # extra="forbid": an unknown key anywhere in the file fails here
    _isolate_settings(monkeypatch, None)
    _set_compose_env(monkeypatch, siskin_env)
    from_env = Settings()
    for key in siskin_env:
        if key != "SISKIN_CONFIG":
            parts, _ = _settings_field(key)
            value = functools.partial(functools.reduce, getattr, parts)
            assert value(from_file) == value(from_env), key


def test_environment_and_cluster_toml_combine(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate_settings(monkeypatch, CLUSTER_TOML)
    _set_compose_env(monkeypatch, _siskin_env(services))
    settings = Settings()
    assert settings.spark.master == "spark://spark-master:7077"
    assert settings.spark.conf["spark.cores.max"], "each job must cap its cores on the standalone master"
    assert settings.kafka.embedded is False


def test_object_store_and_kafka_agree_with_the_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate_settings(monkeypatch, CLUSTER_TOML)
    settings = Settings()
    aws = _environment(services["bronze-kafka"])
    assert settings.spark.conf["spark.hadoop.fs.s3a.endpoint"] == aws["AWS_ENDPOINT_URL"]
    assert settings.spark.conf["spark.hadoop.fs.s3a.endpoint.region"] == aws["AWS_REGION"]
    assert _environment(services["minio"])["MINIO_ROOT_USER"] == aws["AWS_ACCESS_KEY_ID"]
    assert _environment(services["minio"])["MINIO_ROOT_PASSWORD"] == aws["AWS_SECRET_ACCESS_KEY"]
    bucket = urlparse(_siskin_env(services)["SISKIN_LAKE"]).netloc
    assert re.search(rf"mc mb --ignore-existing \w+/{bucket}\b", " ".join(_command(services["minio-init"])))
    kafka_init = " ".join(_command(services["kafka-init"]))
    assert all(f"--topic={topic}" in kafka_init for topic in settings.kafka.topics)
