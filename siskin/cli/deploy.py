"""`siskin deploy init`: generate the cluster deployment's secrets once into a private, git-ignored `.env`."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from siskin.errors import ConfigurationError


def _fernet_key() -> str:
    """A key for Airflow's Fernet encryption of connections and variables (32 random bytes, base64)."""
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _admin_user() -> str:
    name = re.sub(r"[^a-z0-9_.-]", "", getpass.getuser().lower())
    return name if name and name not in ("admin", "root") else "siskin-admin"


# docker-compose.yml refuses to start without each of these (`${VAR:?...}`); generated when absent.
GENERATED: dict[str, Callable[[], str]] = {
    "MINIO_ROOT_PASSWORD": lambda: secrets.token_urlsafe(24),
    "AIRFLOW_DB_PASSWORD": lambda: secrets.token_urlsafe(24),
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(32),
    "AIRFLOW_FERNET_KEY": _fernet_key,
    "AIRFLOW_ADMIN_USER": _admin_user,
    "AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(16),
}
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped; surrounding quotes removed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip("'\"")
    return values


def init_env(path: Path) -> dict[str, str]:
    """Add every missing secret to the env file (existing values are kept); the file is private (0600).

    Returns the keys it generated, with their values.
    """
    existing = read_env(path)
    added = {key: make() for key, make in GENERATED.items() if not existing.get(key)}
    if added:
        text = (
            path.read_text()
            if path.is_file()
            else "# Secrets of docker-compose.yml, made by `siskin deploy init`.\n"
        )
        if not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{key}={value}\n" for key, value in added.items())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    os.chmod(path, 0o600)
    return added


def cmd_deploy_init(args: argparse.Namespace) -> int:
    path: Path = args.env_file
    if path.is_dir():
        raise ConfigurationError(f"{path} is a directory; give the .env file's path")
    added = init_env(path)
    values = read_env(path)
    if added:
        print(f"wrote {', '.join(added)} to {path} (mode 600; keep it out of version control)")
    else:
        print(f"{path} already holds every secret; nothing changed")
    print(f"Airflow UI user {values['AIRFLOW_ADMIN_USER']!r}, password {values['AIRFLOW_ADMIN_PASSWORD']}")
    return 0


def add_commands(sub: Any) -> None:
    """Register `siskin deploy init`."""
    deploy = sub.add_parser("deploy", help="the cluster deployment (docker-compose.yml)").add_subparsers(
        dest="deploy", required=True
    )
    p = deploy.add_parser("init", help="generate the deployment's secrets once into a private .env")
    p.add_argument("--env-file", type=Path, default=Path(".env"), help="default: ./.env")
    p.set_defaults(func=cmd_deploy_init)
