"""Exactly-once per filter topic under crashes: SIGKILL the distribution process mid-stream, restart.

Silver is filled first (one simulated night, many small commits). Then the distribution stage runs in
its own process (this file run as a script: `siskin run distribute` with the test's two filters) and
is SIGKILLed several times, aimed at the moment a batch has sent messages to a topic but not yet
committed its marker; the test proves some kills landed there (a topic's end offsets past the last
committed marker's). After a final run to completion, every topic holds each passing candid exactly
once, and equals its gold filter table and the filter applied to silver independently.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

NIGHT = 20261122
ALERTS = 900
KILLS = 3
PREFIX = "kill_"


def _settings(lake: str, bootstrap: str) -> Any:
    from siskin.config import Settings

    return Settings(
        lake=lake,
        spark={"shuffle_partitions": 2},
        science={"modules": ["roid", "nalerthist"]},
        kafka={"bootstrap": bootstrap},
        stream={"trigger_seconds": 0.5, "max_files_per_trigger": 1},
        streams={"topic_prefix": PREFIX, "fink_compat_topics": {"test_bright": False}},
    )


def _run_distribution(lake: str, bootstrap: str, available_now: bool) -> None:
    """The child process: the distribution query with the test's filters, slowed between send and commit."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_distribute import TwoFilters

    from siskin.pipeline.lakehouse import Lakehouse

    class Slow(TwoFilters):
        def send(self, f: Any, topic: str, rows: Any, key: str) -> Any:
            result = super().send(f, topic, rows, key)
            time.sleep(0.7)  # widen the window "sent, marker not committed" the kills aim at
            return result

    house = Lakehouse(_settings(lake, bootstrap))
    query = house.start_distribute_with(Slow, available_now=available_now)
    print("distribute started", flush=True)
    query.awaitTermination()


def _topic_state(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kill-probe"})
    try:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(
            int(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]) for p in meta.partitions
        )
    finally:
        c.close()


def _committed_ends(lake: str, topic: str) -> int:
    from siskin.lake.catalog import table
    from siskin.lake.transactions import open_table

    uri = table("ops.distribution").path(lake)
    if open_table(uri) is None:
        return 0
    rows = DeltaTable(uri).to_pyarrow_table(filters=[("topic", "=", topic)]).to_pylist()
    if not rows:
        return 0
    last = max(rows, key=lambda r: r["committed_at"])
    return sum(json.loads(last["end_offsets"]).values())


def _all_candids(bootstrap: str, topic: str, expected: int) -> list[int]:
    from confluent_kafka import Consumer

    from siskin.streams.topics import CANDID_HEADER

    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"kill-read-{topic}", "auto.offset.reset": "earliest"}
    )
    c.subscribe([topic])
    out: list[int] = []
    deadline = time.monotonic() + 60
    quiet = None
    while time.monotonic() < deadline:
        for m in c.consume(500, 0.5):
            if m.error() is None:
                out.append(int(dict(m.headers())[CANDID_HEADER]))
        if len(out) >= expected:
            quiet = quiet or time.monotonic() + 2
            if time.monotonic() > quiet:
                break
    c.close()
    return out


def _child(lake: str, bootstrap: str, log: Path, available_now: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    args = [sys.executable, __file__, lake, bootstrap, "1" if available_now else "0"]
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=out, start_new_session=True)


@pytest.mark.slow
def test_sigkill_distribution_no_candid_twice_none_missing(
    spark_session: Any, embedded_broker: Any, tmp_path: Path
) -> None:
    from siskin.lake.catalog import table
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.simulate import simulate_night_records, write_to_dir

    landing = tmp_path / "landing"
    write_to_dir(simulate_night_records(NIGHT, n_alerts=ALERTS, seed=3), landing, night=NIGHT)
    lake = str(tmp_path / "lake")
    bootstrap = embedded_broker.bootstrap
    house = Lakehouse(_settings(lake, bootstrap), spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(landing)], available_now=True, max_files_per_trigger=25).awaitTermination()
    house.start_silver(available_now=True).awaitTermination()
    house.release()
    silver = DeltaTable(table("silver.alerts").path(lake)).to_pyarrow_table()
    assert silver.num_rows > ALERTS // 2

    topics = [f"{PREFIX}test_bright", f"{PREFIX}test_all"]
    log = tmp_path / "child.log"
    in_flight_kills = 0
    kills_log: list[tuple[bool, list[int]]] = []
    for _ in range(KILLS):
        child = _child(lake, bootstrap, log, available_now=False)
        baseline = [_committed_ends(lake, t) for t in topics]
        deadline = time.monotonic() + 240
        killed_in_flight = False
        while time.monotonic() < deadline and child.poll() is None:
            # aim, once this child committed a batch of its own (it recovered what the last kill left):
            # a topic holds messages past the last committed marker (sent, not yet committed)
            committed = [_committed_ends(lake, t) for t in topics]
            if committed != baseline and any(
                _topic_state(bootstrap, t) > c for t, c in zip(topics, committed, strict=True)
            ):
                os.killpg(child.pid, signal.SIGKILL)
                killed_in_flight = True
                break
            time.sleep(0.1)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        # counted only if confirmed after the fact: the kill left sends that no committed marker covers
        in_flight_kills += killed_in_flight and any(
            _topic_state(bootstrap, t) > _committed_ends(lake, t) for t in topics
        )
        kills_log.append((killed_in_flight, [_committed_ends(lake, t) for t in topics]))
    assert in_flight_kills >= 2, f"only {in_flight_kills} kills caught a batch in flight: {kills_log}; {log}"
    print("kills (in flight, committed ends after):", kills_log)

    final = _child(lake, bootstrap, log, available_now=True)
    assert final.wait(timeout=600) == 0, log.read_text()[-3000:]

    sys.path.insert(0, str(Path(__file__).parent))
    from test_distribute import Bright, Everything

    from siskin.streams.tables import register_filter_table

    for f in (Bright, Everything):  # declared in the child by its stage; here for the paths
        register_filter_table(f.name, f.survey, f.description)
    bright = silver.filter(pc.less(silver.column("magpsf"), 19.0))
    for topic, expected in ((topics[0], bright), (topics[1], silver)):
        want = Counter(expected.column("candid").to_pylist())
        got = Counter(_all_candids(bootstrap, topic, expected.num_rows))
        assert [c for c, n in got.items() if n > 1] == [], f"{topic}: candids sent twice"
        assert got == want, f"{topic}: missing {len(set(want) - set(got))}, extra {len(set(got) - set(want))}"
        name = topic.removeprefix(PREFIX)
        gold = DeltaTable(table(f"gold.filter_{name}").path(lake)).to_pyarrow_table(columns=["candid"])
        assert Counter(gold.column("candid").to_pylist()) == want
        assert _topic_state(bootstrap, topic) == _committed_ends(lake, topic) == sum(want.values())
    marker = DeltaTable(table("ops.distribution").path(lake)).to_pyarrow_table().to_pylist()
    keys = Counter((m["batch_id"], m["filter"]) for m in marker)
    assert max(keys.values()) == 1  # one marker row per (batch, filter): no batch committed twice
    assert sum(m["already_in_topic"] for m in marker) > 0  # restarts found sent messages, did not resend


if __name__ == "__main__":
    _run_distribution(sys.argv[1], sys.argv[2], sys.argv[3] == "1")
