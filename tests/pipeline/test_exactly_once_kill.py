"""Exactly-once under crashes: SIGKILL the ingest process repeatedly while it streams from Kafka.

After the restarts, bronze holds each Kafka (topic, partition, offset) exactly once and silver
each candid exactly once, and nothing published is missing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

pytestmark = pytest.mark.slow

ALERTS = 3000
KILLS = 5


def _ingest(lake: Path, bootstrap: str, topic: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SISKIN_LAKE": str(lake),
        "PYSPARK_PYTHON": sys.executable,
        "SISKIN_KAFKA__MAX_ALERTS_PER_TRIGGER": "400",
        "SISKIN_STREAM__TRIGGER_SECONDS": "0.5",
        "SISKIN_SPARK__SHUFFLE_PARTITIONS": "2",
    }
    cmd = [
        sys.executable,
        "-m",
        "siskin.cli.main",
        "ingest",
        "kafka",
        "--topic",
        topic,
        "--bootstrap",
        bootstrap,
        *extra,
    ]
    log = (lake.parent / "ingest.log").open("ab")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)


def test_sigkill_during_streaming_loses_and_duplicates_nothing(embedded_broker, tmp_path: Path) -> None:
    from siskin.simulate.ztf import simulate_night_records
    from siskin.sources.kafka_publish import publish

    topic = "kill-test"
    embedded_broker.create_topic(topic, 3)
    records = list(simulate_night_records(20261121, n_alerts=ALERTS, seed=11))
    candids = {c for c, _ in records}
    lake = tmp_path / "lake"
    rng = random.Random(20261121)
    published = {"n": 0}
    chunk = ALERTS // (KILLS + 1)
    for round_ in range(KILLS):
        # publish more while the previous process is dead, then start and kill at a random point
        part = records[round_ * chunk : (round_ + 1) * chunk]
        published["n"] += publish((p for _, p in part), topic, embedded_broker.bootstrap).messages
        proc = _ingest(lake, embedded_broker.bootstrap, topic)
        time.sleep(rng.uniform(12.0, 30.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    rest = records[KILLS * chunk :]
    published["n"] += publish((p for _, p in rest), topic, embedded_broker.bootstrap).messages
    assert published["n"] == ALERTS
    final = _ingest(lake, embedded_broker.bootstrap, topic, "--available-now")
    assert final.wait(timeout=900) == 0, (tmp_path / "ingest.log").read_text()[-3000:]

    bronze = DeltaTable(str(lake / "bronze" / "alerts")).to_pyarrow_table(
        columns=["topic", "partition", "offset"]
    )
    positions = {
        (t, p, o)
        for t, p, o in zip(*(bronze.column(c).to_pylist() for c in bronze.column_names), strict=True)
    }
    assert bronze.num_rows == ALERTS and len(positions) == ALERTS
    silver = DeltaTable(str(lake / "silver" / "alerts")).to_pyarrow_table(columns=["candid"])
    assert silver.num_rows == ALERTS
    assert pc.count_distinct(silver.column("candid")).as_py() == ALERTS
    assert set(silver.column("candid").to_pylist()) == candids
    gold = DeltaTable(str(lake / "gold" / "objects")).to_pyarrow_table(columns=["n_alerts"])
    assert pc.sum(gold.column("n_alerts")).as_py() == ALERTS
