"""Exactly-once under crashes: SIGKILL the ingest process repeatedly while it streams from Kafka.

The stream mixes simulated alerts with undecodable payloads. Kills are aimed at micro-batches in
flight (a query's checkpoint holds an offset it has not committed) after the process has made
progress, and the test proves some landed there: a batch that Spark must run again after the restart,
or data files written but never committed.

After the restarts, everything is reconciled against what the broker holds, read back by an
independent consumer (not the producer's count, not the pipeline's own duplicate counters):
bronze holds each Kafka (topic, partition, offset) exactly once with the bytes the broker has;
silver alerts and cutouts each good alert's candid exactly once; silver rejects each bad payload's
position exactly once; gold counts every alert once; ops.batches has one row per committed batch
and its counts add up to the tables'.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

pytestmark = pytest.mark.slow

ALERTS = 3000
KILLS = 5
BAD_EVERY = 50  # one undecodable payload after every 50 alerts
DATA_TABLES = ("bronze/alerts", "silver/alerts", "silver/cutouts", "silver/rejects", "gold/objects")


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


def _batch_ids(folder: Path) -> set[int]:
    return {int(p.name) for p in folder.glob("*") if p.name.isdigit()} if folder.is_dir() else set()


def _in_flight(lake: Path) -> dict[str, int]:
    """Per streaming query, the micro-batch it has planned (offset logged) but not committed."""
    out = {}
    for offsets in lake.rglob("offsets"):
        planned, committed = _batch_ids(offsets), _batch_ids(offsets.parent / "commits")
        if planned and max(planned) > max(committed, default=-1):
            out[offsets.parent.name] = max(planned)
    return out


def _committed(lake: Path, query: str) -> set[int]:
    return {b for c in lake.rglob("commits") if c.parent.name == query for b in _batch_ids(c)}


def _uncommitted_files(lake: Path) -> set[str]:
    """Data files of the data tables that no Delta commit ever added (written by a batch cut short)."""
    out = set()
    for name in DATA_TABLES:
        root = lake / name
        added = set()
        for log in sorted((root / "_delta_log").glob("*.json")):
            for line in log.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    added.add(unquote(action["add"]["path"]))
        on_disk = {str(p.relative_to(root)) for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}
        out |= {f"{name}/{p}" for p in on_disk - added}
    return out


def _commits(lake: Path) -> int:
    return sum(len(_batch_ids(c)) for c in lake.rglob("commits"))


def _wait(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], deadline: float, poll_s: float
) -> None:
    while time.monotonic() < deadline and proc.poll() is None and not condition():
        time.sleep(poll_s)


def _stream_then_kill(
    proc: subprocess.Popen[bytes], lake: Path, rng: random.Random, publish_more: Callable[[], object]
) -> None:
    """Once the process has committed a micro-batch, publish more, then SIGKILL it with a batch in flight."""
    deadline = time.monotonic() + 240.0
    committed = _commits(lake)
    _wait(lambda: _commits(lake) > committed, proc, deadline, 0.05)
    publish_more()
    time.sleep(rng.uniform(0.0, 2.0))  # a random point of the stream, then the next batch in flight
    _wait(lambda: bool(_in_flight(lake)), proc, min(deadline, time.monotonic() + 60.0), 0.01)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _read_topic(bootstrap: str, topic: str) -> dict[tuple[str, int, int], bytes]:
    """Every message the broker holds, read by a consumer of its own: (topic, partition, offset) -> bytes."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out: dict[tuple[str, int, int], bytes] = {}
        deadline = time.monotonic() + 120
        while len(out) < sum(ends.values()) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                out[(topic, msg.partition(), msg.offset())] = msg.value()
        assert len(out) == sum(ends.values()), (len(out), ends)
        return out
    finally:
        consumer.close()


def _table(lake: Path, name: str, columns: list[str]):  # noqa: ANN202
    return DeltaTable(str(lake / name)).to_pyarrow_table(columns=columns)


def test_sigkill_during_streaming_loses_and_duplicates_nothing(embedded_broker, tmp_path: Path) -> None:
    from siskin.simulate.ztf import simulate_night_records
    from siskin.sources.kafka_publish import publish

    topic = "kill-test"
    embedded_broker.create_topic(topic, 3)
    stream: list[bytes] = []
    candid_of: dict[bytes, int] = {}
    for i, (candid, payload) in enumerate(simulate_night_records(20261121, n_alerts=ALERTS, seed=11)):
        stream.append(payload)
        candid_of[payload] = candid
        if i % BAD_EVERY == BAD_EVERY - 1:
            stream.append(b"not an alert #%d" % i)
    lake = tmp_path / "lake"
    rng = random.Random(20261121)
    chunk = len(stream) // (KILLS + 1)
    evidence = []
    for round_ in range(KILLS):
        # publish half a chunk while the previous process is dead, start it, let it commit something,
        # publish the other half while it streams, and kill it as soon as a micro-batch is in flight
        part = stream[round_ * chunk : (round_ + 1) * chunk]
        publish(part[: len(part) // 2], topic, embedded_broker.bootstrap)
        before = _uncommitted_files(lake)
        proc = _ingest(lake, embedded_broker.bootstrap, topic)
        rest = part[len(part) // 2 :]
        _stream_then_kill(proc, lake, rng, lambda rest=rest: publish(rest, topic, embedded_broker.bootstrap))
        evidence.append((_in_flight(lake), _uncommitted_files(lake) - before))
    publish(stream[KILLS * chunk :], topic, embedded_broker.bootstrap)
    final = _ingest(lake, embedded_broker.bootstrap, topic, "--available-now")
    assert final.wait(timeout=900) == 0, (tmp_path / "ingest.log").read_text()[-3000:]

    # Some kills landed inside a micro-batch, and every batch cut short was run again to its commit.
    cut_short = [(flight, files) for flight, files in evidence if flight or files]
    print("kills: (batches in flight, uncommitted files) =", [(f, len(u)) for f, u in evidence])
    assert len(cut_short) >= 2, evidence
    assert any(batch_id > 0 for flight, _ in evidence for batch_id in flight.values()), evidence  # mid-stream
    for flight, _ in evidence:
        for query, batch_id in flight.items():
            assert batch_id in _committed(lake, query), (query, batch_id)

    # The broker's own record of what was published, read back independently.
    published = _read_topic(embedded_broker.bootstrap, topic)
    assert Counter(published.values()) == Counter(stream)
    good = {pos: candid_of[v] for pos, v in published.items() if v in candid_of}
    bad = {pos for pos, v in published.items() if v not in candid_of}
    assert len(good) == ALERTS and len(bad) == len(stream) - ALERTS > 0

    bronze = _table(lake, "bronze/alerts", ["topic", "partition", "offset", "sha256"])
    positions = list(
        zip(*(bronze.column(c).to_pylist() for c in ("topic", "partition", "offset")), strict=True)
    )
    assert Counter(positions) == Counter(published.keys())  # each position exactly once, none missing
    digests = dict(zip(positions, bronze.column("sha256").to_pylist(), strict=True))
    assert all(digests[pos] == hashlib.sha256(v).hexdigest() for pos, v in published.items())

    silver = _table(lake, "silver/alerts", ["candid", "topic", "partition", "offset"])
    assert Counter(silver.column("candid").to_pylist()) == Counter(good.values())
    where = zip(
        *(silver.column(c).to_pylist() for c in ("topic", "partition", "offset", "candid")), strict=True
    )
    assert {(t, p, o): c for t, p, o, c in where} == good
    cutouts = _table(lake, "silver/cutouts", ["candid", "cutoutScience_stampData"])
    assert Counter(cutouts.column("candid").to_pylist()) == Counter(good.values())
    assert cutouts.column("cutoutScience_stampData").null_count == 0
    rejects = _table(lake, "silver/rejects", ["topic", "partition", "offset", "reason_code"])
    reject_positions = zip(
        *(rejects.column(c).to_pylist() for c in ("topic", "partition", "offset")), strict=True
    )
    assert Counter(reject_positions) == Counter(bad)
    assert set(rejects.column("reason_code").to_pylist()) == {"not_avro"}
    gold = _table(lake, "gold/objects", ["n_alerts"])
    assert pc.sum(gold.column("n_alerts")).as_py() == ALERTS

    # ops.batches: one row per committed micro-batch, and its counts add up to the tables'.
    ops = _table(lake, "ops/batches", ["query", "app_id", "batch_id", "output_rows", "rejects"]).to_pylist()
    assert not [k for k, n in Counter((r["app_id"], r["batch_id"]) for r in ops).items() if n > 1]
    per_query: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for row in ops:
        stage = "bronze" if row["query"].startswith("bronze") else row["query"]
        per_query[stage] += row["output_rows"]
        rejected[stage] += row["rejects"]
    assert per_query["bronze"] == len(published)
    assert per_query["silver"] == ALERTS and rejected["silver"] == len(bad)
