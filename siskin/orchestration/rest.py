"""A small client of a local Airflow's REST API (v2): log in as a named user, trigger and watch DAG runs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from siskin.errors import SiskinError

FINISHED = {"success", "failed"}


class AirflowClient:
    """Calls `<url>/api/v2/...` with a JWT obtained from SimpleAuthManager's `/auth/token`."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.token = str(
            self._send("POST", "/auth/token", {"username": user, "password": password})["access_token"]
        )

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise SiskinError(
                f"airflow {method} {path}: HTTP {exc.code} {exc.read().decode()[:500]}"
            ) from None
        return json.loads(text) if text else None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call (`path` below /api/v2), its JSON answer."""
        return self._send(method, f"/api/v2{path}", body, self.token)

    def wait_for_dag(self, dag_id: str, timeout_s: float = 180.0) -> dict[str, Any]:
        """Wait until the DAG processor has parsed the DAG."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return dict(self.call("GET", f"/dags/{dag_id}"))
            except SiskinError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(2.0)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Unpause the DAG and trigger a run with `conf`; its run id."""
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 900.0) -> dict[str, Any]:
        """Poll the run until it succeeded or failed; its final state document and its task instances."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = dict(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))
            if run["state"] in FINISHED:
                tasks = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
                run["tasks"] = {t["task_id"]: t["state"] for t in tasks}
                return run
            if time.monotonic() > deadline:
                raise SiskinError(f"{dag_id} run {run_id} still {run['state']} after {timeout_s:.0f} s")
            time.sleep(3.0)
