"""Airflow on this machine with the project's DAGs: its home, generated secrets and users, its environment.

Nothing here imports Airflow: Airflow reads its configuration when first imported, so the environment
built here must be in place before (`siskin airflow` runs its components as subprocesses with it).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from siskin.config import Settings
from siskin.errors import ConfigurationError

PASSWORDS_FILE = "simple_auth_manager_passwords.json"
SECRETS_FILE = "siskin_airflow_secrets.json"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
# SQLite: API server, scheduler, DAG processor and tasks share one file; wait for its lock rather than fail
# ("database is locked" crashed the DAG processor on a loaded machine). Airflow imports this by path.
SQLITE_CONNECT_ARGS: dict[str, object] = {"timeout": 120}


def dags_folder() -> Path:
    """The project's `dags/` folder (beside the `siskin` package in a checkout)."""
    folder = Path(__file__).resolve().parents[2] / "dags"
    if not folder.is_dir():
        raise ConfigurationError(f"the project's dags folder {folder} is missing (run from a checkout)")
    return folder


def airflow_home(settings: Settings) -> Path:
    """`airflow.home`, else `<lake>/_airflow` for a local lake, else `~/.siskin/airflow`."""
    if settings.airflow.home:
        return Path(settings.airflow.home).expanduser().resolve()
    lake = settings.lake_uri
    return Path(lake) / "_airflow" if "://" not in lake else Path.home() / ".siskin" / "airflow"


def _private_json(path: Path, data: dict[str, str]) -> None:
    """Write a JSON file only its owner can read (it holds passwords or keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1)
    os.chmod(path, 0o600)


def _read_json(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.is_file() else {}


@dataclass(frozen=True)
class LocalAirflow:
    """A local Airflow's home, its users' generated passwords, and the environment its processes need."""

    home: Path
    passwords: dict[str, str]
    env: dict[str, str]
    url: str

    @property
    def passwords_file(self) -> Path:
        return self.home / PASSWORDS_FILE


def prepare(settings: Settings, *, port: int | None = None) -> LocalAirflow:
    """Create the home, generate missing secrets and passwords (kept; never admin/admin), build the env."""
    cfg = settings.airflow
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    kept = _read_json(home / SECRETS_FILE)
    wanted = {"jwt_secret": kept.get("jwt_secret") or secrets.token_urlsafe(64)}  # HS512 wants >= 64 bytes
    if kept != wanted:
        _private_json(home / SECRETS_FILE, wanted)
    known = _read_json(home / PASSWORDS_FILE)
    passwords = {user: known.get(user) or secrets.token_urlsafe(12) for user in cfg.users}
    if passwords != known:
        _private_json(home / PASSWORDS_FILE, passwords)
    port = port or cfg.port
    url = f"http://{cfg.host}:{port}"
    database = cfg.database_url.get_secret_value() if cfg.database_url else f"sqlite:///{home / 'airflow.db'}"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in cfg.users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__API__HOST": cfg.host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API_AUTH__JWT_SECRET": wanted["jwt_secret"],
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # DAG tasks read the same lake as this command, whatever their working directory
        "SISKIN_LAKE": settings.lake_uri,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    if not cfg.database_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = f"{__name__}.SQLITE_CONNECT_ARGS"
    if os.environ.get("SISKIN_CONFIG"):
        env["SISKIN_CONFIG"] = str(Path(os.environ["SISKIN_CONFIG"]).resolve())
    return LocalAirflow(home, passwords, env, url)
