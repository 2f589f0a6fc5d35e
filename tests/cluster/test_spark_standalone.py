"""The lakehouse on a real Spark standalone cluster with its lake on an S3-compatible store.

Every part is a separate process on loopback: moto's S3 server holds the lake (`s3://lake/...`, reached
through the standard `AWS_*` variables, as MinIO on docker-compose), a Spark master and a worker are
JVMs started from pyspark's own jars, and the driver is `siskin ingest kafka` in a subprocess with
`SISKIN_SPARK__MASTER=spark://127.0.0.1:PORT`; the worker launches the executors that run Siskin's
Python data sources and stage transforms. The streaming checkpoints stay on a local path that every
node here shares (`SISKIN_CHECKPOINTS`): Spark would need the hadoop-aws jars to write them to S3.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from siskin.dev.spark_cluster import StandaloneCluster, driver_conf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's S3 server on loopback with a `lake` bucket; skips where moto is not installed."""
    pytest.importorskip("moto", reason="moto[s3] (a dev extra) runs the local S3 store")
    from siskin.dev.object_store import LocalS3

    with LocalS3(tmp_path_factory.mktemp("s3"), buckets=("lake",)) as store:
        yield store


@pytest.fixture(scope="module")
def spark_cluster(object_store: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A master and one worker (1 core, 2 GB); the worker's executors see the store's AWS_* variables."""
    with StandaloneCluster(tmp_path_factory.mktemp("spark"), cores=1, memory="2g", env=object_store.env) as c:
        yield c


class Driver:
    """How to run `siskin` as a driver on the cluster, against one lake and one checkpoint folder."""

    def __init__(
        self, cluster: StandaloneCluster, store: Any, work: Path, lake: str, *, alerts_per_trigger: int
    ) -> None:
        self.cluster = cluster
        self.store = store
        self.lake = lake
        self.checkpoints = work / "checkpoints"  # local: master, worker and driver share this machine
        self.events = work / "events"
        self.events.mkdir(parents=True)
        self.log = work / "driver.log"
        conf = {
            **driver_conf(cores_max=1, executor_memory="1g"),
            # A plain JSON-lines event log per application: which executor ran every task.
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": self.events.as_uri(),
            "spark.eventLog.compress": "false",
            "spark.eventLog.rolling.enabled": "false",
        }
        self.env = {
            **os.environ,
            **store.env,  # the same variables docker-compose gives every Siskin container
            "SISKIN_LAKE": lake,
            "SISKIN_CHECKPOINTS": str(self.checkpoints),
            "SISKIN_SPARK__MASTER": cluster.master_url,
            "SISKIN_SPARK__CONF": json.dumps(conf),
            "SISKIN_SPARK__DRIVER_MEMORY": "1g",
            "SISKIN_SPARK__SHUFFLE_PARTITIONS": "2",
            "SISKIN_KAFKA__EMBEDDED": "false",
            "SISKIN_KAFKA__MAX_ALERTS_PER_TRIGGER": str(alerts_per_trigger),
            "SISKIN_STREAM__TRIGGER_SECONDS": "1.0",
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONFAULTHANDLER": "1",  # a driver that dies of a signal leaves its threads' stacks in the log
        }

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """`siskin ARGS` in its own process group, so that a test can SIGKILL the driver and its JVM."""
        out = self.log.open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "siskin.cli.main", *args],
            env=self.env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )

    def table(self, name: str) -> DeltaTable | None:
        """A lake table on the S3 store, read by delta-rs in this (test) process."""
        layer, short = name.split(".")
        try:
            return DeltaTable(f"{self.lake}/{layer}/{short}", storage_options=self.store.env)
        except Exception:  # noqa: BLE001 - not created yet
            return None

    def version(self, name: str) -> int:
        table = self.table(name)
        return -1 if table is None else table.version()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _events(driver: Driver) -> dict[str, tuple[bool, list[dict[str, Any]]]]:
    """Every application's event log: app id -> (complete, events). A killed driver's log stays
    `.inprogress`, may end in a torn line and lacks what it had not flushed."""
    apps = {}
    for path in sorted(driver.events.iterdir()):
        complete = not path.name.endswith(".inprogress")
        events = []
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                assert not complete, f"corrupt event log {path}"
        apps[path.name.removesuffix(".inprogress")] = (complete, events)
    return apps


def _assert_ran_on_executors(driver: Driver, cluster: StandaloneCluster) -> int:
    """Each application registered with the master and got an executor from the worker; every task it
    logged ran there, none in the driver; the executor ran Python (the data sources' readers, the stages'
    transforms). Returns the number of tasks the complete logs record."""
    apps = _events(driver)
    assert apps, f"no event log under {driver.events}"
    state = cluster.master_state()
    registered = {a["id"] for a in state["completedapps"]} | {a["id"] for a in state["activeapps"]}
    assert set(apps) <= registered, (set(apps), registered)
    tasks = 0
    for app_id, (complete, events) in apps.items():
        executors = {e["Executor ID"] for e in events if e["Event"] == "SparkListenerExecutorAdded"}
        assert executors and "driver" not in executors, (app_id, executors)
        # The executor's own log (the worker keeps it): its Python workers ran scans and transforms.
        stderr = [p.read_text(errors="replace") for p in (cluster.executor_dir / app_id).glob("*/stderr")]
        python_tasks = sum(s.count("Starting Python task execution") for s in stderr)
        assert python_tasks > 0, f"no Python ran in an executor of {app_id}"
        if not complete:
            continue
        ended = [e for e in events if e["Event"] == "SparkListenerTaskEnd"]
        assert ended, f"{app_id} ran no task"
        for e in ended:
            assert e["Task Info"]["Executor ID"] in executors, (app_id, e["Task Info"])
        assert python_tasks >= len(ended), (app_id, python_tasks, len(ended))
        plans = " ".join(
            e.get("physicalPlanDescription", "") for e in events if e["Event"].endswith("SQLExecutionStart")
        )
        # Python data sources (siskin_kafka, siskin_delta_stream) scanned; Arrow transforms in tasks.
        assert "MicroBatchScan" in plans and "MapInArrow" in plans, app_id
        tasks += len(ended)
    return tasks


def _assert_exactly_once(driver: Driver, topic: str, candids: set[int]) -> None:
    n = len(candids)
    bronze = driver.table("bronze.alerts")
    silver = driver.table("silver.alerts")
    gold = driver.table("gold.objects")
    assert bronze is not None and silver is not None and gold is not None, driver.tail()
    positions = bronze.to_pyarrow_table(columns=["topic", "partition", "offset"])
    assert positions.num_rows == n, (positions.num_rows, n)
    keys = {
        (t, p, o)
        for t, p, o in zip(*(positions.column(c).to_pylist() for c in positions.column_names), strict=True)
    }
    assert len(keys) == n and {t for t, _, _ in keys} == {topic}
    got = silver.to_pyarrow_table(columns=["candid"]).column("candid")
    assert len(got) == n and pc.count_distinct(got).as_py() == n
    assert set(got.to_pylist()) == candids
    assert pc.sum(gold.to_pyarrow_table(columns=["n_alerts"]).column("n_alerts")).as_py() == n


def _publish(embedded_broker: Any, topic: str, payloads: list[bytes]) -> None:
    from siskin.sources.kafka_publish import publish

    assert publish(payloads, topic, embedded_broker.bootstrap).messages == len(payloads)


def _wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], driver: Driver, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, f"the driver exited ({proc.returncode}):\n{driver.tail()}"
        assert time.monotonic() < deadline, f"no progress in {timeout_s:.0f} s:\n{driver.tail()}"
        time.sleep(0.5)


def _in_flight(checkpoints: Path) -> list[str]:
    """Queries whose last planned micro-batch (offsets/N) has no commit (commits/N): a kill interrupted it."""

    def last(folder: Path) -> int:
        return max((int(p.name) for p in folder.glob("*") if p.name.isdigit()), default=-1)

    return [q.name for q in checkpoints.iterdir() if last(q / "offsets") > last(q / "commits")]


def _assert_lake_on_the_store(driver: Driver, store: Any, prefix: str) -> None:
    """The tables are on the S3 store; the checkpoints (one per query) on the shared local path."""
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        endpoint_override=store.endpoint,
        scheme="http",
        access_key=store.env["AWS_ACCESS_KEY_ID"],
        secret_key=store.env["AWS_SECRET_ACCESS_KEY"],
        region=store.env["AWS_REGION"],
    )
    layers = {i.base_name for i in fs.get_file_info(pafs.FileSelector(prefix))}
    assert {"bronze", "silver", "gold", "ops"} <= layers, layers
    queries = {p.name for p in driver.checkpoints.iterdir()}
    assert {"silver", "gold"} <= queries and any(q.startswith("bronze_kafka_") for q in queries), queries


def test_the_pipeline_on_the_cluster_stays_exactly_once_when_the_driver_is_killed(
    spark_cluster: StandaloneCluster, object_store: Any, embedded_broker: Any, tmp_path: Path
) -> None:
    """Stream bronze, silver and gold on the cluster into the S3 lake; SIGKILL the driver (its whole
    process group: Python and the driver JVM) right after each stage has committed, restart; then a
    clean `--available-now` run. Every alert lands once in each layer, and every task ran in the worker's
    executors."""
    from siskin.simulate.ztf import simulate_night_records

    topic = "cluster-night"
    embedded_broker.create_topic(topic, 3)
    records = list(simulate_night_records(20261122, n_alerts=450, seed=17))
    # Small micro-batches: each round commits several, so a kill lands between or inside them.
    driver = Driver(spark_cluster, object_store, tmp_path, "s3://lake/siskin", alerts_per_trigger=60)
    rng = random.Random(20261122)
    stages = ("bronze.alerts", "silver.alerts", "gold.objects")  # the stage that has just committed
    chunk = len(records) // (len(stages) + 1)
    interrupted: list[list[str]] = []  # per kill: the queries caught with a micro-batch half done
    for round_, stage in enumerate(stages):
        _publish(embedded_broker, topic, [p for _, p in records[round_ * chunk : (round_ + 1) * chunk]])
        before = max(driver.version(stage), 0)  # version 0: the empty table the first start creates
        proc = driver.start("ingest", "kafka", "--topic", topic, "--bootstrap", embedded_broker.bootstrap)
        _wait_for(lambda: driver.version(stage) > before, proc, driver, timeout_s=240)  # noqa: B023
        time.sleep(rng.uniform(0.0, 3.0))
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        interrupted.append(_in_flight(driver.checkpoints))
    _publish(embedded_broker, topic, [p for _, p in records[len(stages) * chunk :]])

    final = driver.start(
        "ingest", "kafka", "--topic", topic, "--bootstrap", embedded_broker.bootstrap, "--available-now"
    )
    assert final.wait(timeout=600) == 0, driver.tail()

    _assert_exactly_once(driver, topic, {c for c, _ in records})
    print(f"queries caught with a micro-batch in flight, per kill: {interrupted}")
    assert any(interrupted), f"no kill caught a micro-batch in flight: {interrupted}"
    assert len(_events(driver)) == len(stages) + 1  # one application per driver start, each on the cluster
    assert _assert_ran_on_executors(driver, spark_cluster) >= 3  # the clean run: bronze, silver, gold tasks
    _assert_lake_on_the_store(driver, object_store, "lake/siskin")
    status = subprocess.run(
        [sys.executable, "-m", "siskin.cli.main", "status"], env=driver.env, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr[-3000:]
    assert "s3://lake/siskin" in status.stdout and "silver.alerts" in status.stdout
