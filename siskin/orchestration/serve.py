"""Run a local Airflow (API server + UI, scheduler, DAG processor) as child processes, and stop it cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from siskin.errors import ConfigurationError, SiskinError
from siskin.orchestration.local import LocalAirflow

COMPONENTS = ("api-server", "scheduler", "dag-processor")


def airflow_command() -> list[str]:
    """The `airflow` executable of this environment."""
    beside = Path(sys.executable).with_name("airflow")
    found = str(beside) if beside.is_file() else shutil.which("airflow")
    if not found:
        raise ConfigurationError("apache-airflow is not installed in this environment (no `airflow` command)")
    return [found]


def migrate(local: LocalAirflow, timeout_s: float = 600) -> None:
    """Create or upgrade the metadata database (`airflow db migrate`)."""
    result = subprocess.run(
        [*airflow_command(), "db", "migrate"],
        env={**os.environ, **local.env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if result.returncode != 0:
        raise SiskinError(f"airflow db migrate failed ({result.returncode}): {result.stderr[-2000:]}")


@dataclass
class Running:
    """The child processes of a local Airflow, each writing its log under `<home>/logs/<component>.log`."""

    local: LocalAirflow
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, IO[bytes]] = field(default_factory=dict)

    restarts: dict[str, int] = field(default_factory=dict)

    def dead(self) -> list[str]:
        """Components that have exited."""
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def restart_dead(self, most: int = 5) -> list[str]:
        """Start again each component that exited (at most `most` times each); the ones restarted.

        An error naming the component once it has exited more often than that.
        """
        restarted = []
        for name in self.dead():
            self.restarts[name] = self.restarts.get(name, 0) + 1
            if self.restarts[name] > most:
                logs = self.local.home / "logs"
                raise SiskinError(f"airflow {name} exited {self.restarts[name]} times; see {logs}/{name}.log")
            self.processes[name] = _spawn(name, self.logs[name], {**os.environ, **self.local.env})
            restarted.append(name)
        return restarted

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM every component's process group, SIGKILL whatever is left after `grace_s`."""
        for proc in self.processes.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        for log in self.logs.values():
            log.close()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def start(local: LocalAirflow) -> Running:
    """Start the API server, scheduler and DAG processor (each in its own process group)."""
    logs_dir = local.home / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    running = Running(local)
    env = {**os.environ, **local.env}
    try:
        for name in COMPONENTS:
            log = open(logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed by Running.stop
            running.logs[name] = log
            running.processes[name] = _spawn(name, log, env)
    except BaseException:
        running.stop()
        raise
    return running


def _spawn(name: str, log: IO[bytes], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One component in its own process group (stopping it stops the task processes it started)."""
    return subprocess.Popen(
        [*airflow_command(), name],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def health(url: str, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The API server's health document, None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout_s) as response:
            return dict(json.load(response))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_healthy(running: Running, timeout_s: float = 240.0) -> dict[str, Any]:
    """Wait until the database, scheduler and DAG processor report healthy; an error if a component dies."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        running.restart_dead()
        last = health(running.local.url)
        parts = ("metadatabase", "scheduler", "dag_processor")
        if last and all((last.get(p) or {}).get("status") == "healthy" for p in parts):
            return last
        time.sleep(1.0)
    raise SiskinError(f"airflow did not become healthy within {timeout_s:.0f} s (last health: {last})")
