"""`siskin bench ingest`: sustained alerts/s from Kafka to silver, and publish-to-silver latency.

Simulated ZTF 4.02 alerts are generated first (not timed). Two modes, on a scratch lake (deleted
afterwards unless `keep_lake`):
- `--rate 0` (capacity): the alerts are published first, then the bronze and silver queries start
  and drain the backlog. `alerts_per_s` is the steady state: the alerts silver committed after its
  first commit / the time from its first to its last commit, so the start-up (Python workers,
  imports, first micro-batches of both stages) is left out and reported apart (`startup_seconds`,
  `alerts_per_s_with_startup`). The default backlog is `STEADY_TRIGGERS` micro-batches
  (`kafka.max_alerts_per_trigger` each) so that several steady commits are measured. The producer
  and the broker do not compete for the CPU while the pipeline is measured.
- `--rate R` (latency): the alerts are published at R alerts/s while the queries run; latency of
  an alert = commit time of the silver commit that made it visible - the time the producer sent
  it (the `siskin_sent_ns` header, carried through bronze into silver).
`alerts_per_cpu_s` divides by the CPU time (user + system) the pipeline's processes used while
draining (this process, the Spark JVM, its Python workers and the broker; Linux only): unlike
alerts/s it does not depend on what else runs on the machine, so it is the figure to compare
between runs on a shared host (CPU contention still costs some: caches, context switches). Per
stage, `stages` gives the steady micro-batches' alerts per second of batch time (each stage's first
batch left out); the stages run at the same time, so these show which one limits.
Prints one JSON object.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from siskin.config import Settings

STEADY_TRIGGERS = 6  # default backlog, in micro-batches: the first is start-up, the others steady


def silver_visibility(silver_uri: str) -> tuple[np.ndarray, np.ndarray]:
    """Per silver row: (unix seconds of the commit that made it visible, seconds since it was sent)."""
    import pyarrow.parquet as pq

    from siskin.lake.delta_source import read_commit
    from siskin.lake.transactions import open_table

    table = open_table(silver_uri)
    if table is None:
        return np.empty(0), np.empty(0)
    out, commits = [], []
    for version in range(table.version() + 1):
        actions = read_commit(silver_uri, version)
        info: dict[str, Any] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        committed_ns = int(info.get("timestamp", 0)) * 1_000_000
        for act in actions:
            if "add" in act:
                sent = pq.read_table(f"{silver_uri}/{act['add']['path']}", columns=["sent_ns"]).column(
                    "sent_ns"
                )
                values = sent.to_numpy(zero_copy_only=False)
                values = values[~np.isnan(values.astype(float))] if values.dtype == object else values
                out.append((committed_ns - values.astype(np.int64)) / 1e9)
                commits.append(np.full(len(values), committed_ns / 1e9))
    if not out:
        return np.empty(0), np.empty(0)
    return np.concatenate(commits), np.concatenate(out)


def tree_cpu_seconds(root: int | None = None) -> dict[str, float] | None:
    """CPU seconds used so far by a process and its descendants (live or exited), by kind; None off Linux.

    Kinds: `driver` (the root), `jvm`, `python_workers` (pyspark daemon and workers), `broker`, `other`.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        ticks[pid] = sum(int(f) for f in fields[11:15])  # utime, stime, and of reaped children
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    root = root or os.getpid()
    total: dict[str, float] = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        kind = "driver" if pid == root else _process_kind(pid)
        total[kind] = total.get(kind, 0.0) + ticks.get(pid, 0) / os.sysconf("SC_CLK_TCK")
        stack.extend(children.get(pid, []))
    return total


def _process_kind(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "other"
    program = command.split(b" ", 1)[0]
    if program.endswith(b"java"):  # before the markers: the JVM's class path names pyspark
        return "jvm"
    for marker, kind in ((b"pyspark", "python_workers"), (b"tansu", "broker")):
        if marker in command:
            return kind
    return "other"


def steady_rate(commits: np.ndarray) -> tuple[float | None, int]:
    """(alerts/s committed after the first commit, number of commits) from per-row commit times.

    None while there are fewer than 3 commits: one interval is not a steady state.
    """
    times, counts = np.unique(commits, return_counts=True)
    if len(times) < 3 or times[-1] <= times[0]:
        return None, len(times)
    return float(counts[1:].sum() / (times[-1] - times[0])), len(times)


def _stage_rates(settings: Settings) -> dict[str, dict[str, float | int]]:
    """Per stage, from `ops.batches`: steady batches, their alerts and alerts per second of batch time."""
    from siskin.lake.catalog import table_path
    from siskin.lake.transactions import open_table

    ops = open_table(table_path(settings.lake_uri, "ops.batches"))
    if ops is None:
        return {}
    frame = ops.to_pandas(columns=["query", "committed_at", "seconds", "input_rows"])
    out: dict[str, dict[str, float | int]] = {}
    for stage in ("bronze", "silver"):
        batches = frame[frame["query"].str.startswith(stage)].sort_values("committed_at").iloc[1:]
        batches = batches[batches["input_rows"] > 0]
        seconds = float(batches["seconds"].sum())
        if len(batches) and seconds > 0:
            rows = int(batches["input_rows"].sum())
            out[stage] = {
                "batches": len(batches),
                "alerts": rows,
                "alerts_per_batch_s": round(rows / seconds, 1),
            }
    return out


def run_ingest_benchmark(
    settings: Settings,
    *,
    alerts: int | None = None,
    rate: float = 0.0,
    duration_s: float = 0.0,
    partitions: int = 4,
    night: int = 20261121,
    timeout_s: float = 1800.0,
    keep_lake: bool = False,
) -> dict[str, Any]:
    """Run the benchmark on a scratch lake; returns the figures (`alerts` None: `STEADY_TRIGGERS` batches)."""
    from siskin.simulate.ztf import simulate_night

    if duration_s and rate:
        alerts = int(duration_s * rate)
    if alerts is None:
        alerts = STEADY_TRIGGERS * settings.kafka.max_alerts_per_trigger
    t0 = time.monotonic()
    payloads = list(simulate_night(night, n_alerts=alerts, seed=7))
    gen_s = time.monotonic() - t0
    sizes = np.array([len(p) for p in payloads])
    scratch = Path(tempfile.mkdtemp(prefix="siskin-bench-"))
    try:
        result = _run(settings, scratch, payloads, rate, partitions, timeout_s)
    finally:
        if not keep_lake:
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        "alerts": int(alerts),
        "alert_bytes_mean": float(sizes.mean()) if len(sizes) else 0.0,
        "generate_seconds": round(gen_s, 1),
        **result,
        **({"lake": str(scratch / "lake")} if keep_lake else {}),
    }


def _run(
    settings: Settings, scratch: Path, payloads: list[bytes], rate: float, partitions: int, timeout_s: float
) -> dict[str, Any]:
    """Publish, run the bronze and silver queries until every alert is in silver, and measure."""
    from siskin.broker.tansu import EmbeddedBroker
    from siskin.lake.catalog import table_path
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import (
        caught_up,
        committed_kafka_messages,
        stop_all,
        wait_until,
    )
    from siskin.sources.kafka_publish import publish

    settings = settings.model_copy(update={"lake": str(scratch / "lake")})
    topic = "ztf-bench"
    with EmbeddedBroker(scratch / "broker") as broker:
        broker.create_topic(topic, partitions)
        house = Lakehouse(settings)
        house.ensure_tables()
        name = house.kafka_query_name(broker.bootstrap, [topic], None)
        sent: dict[str, Any] = {}

        def produce() -> None:
            sent["start"] = time.time()
            stats = publish(payloads, topic, broker.bootstrap, rate_per_s=rate or None)
            sent["n"], sent["seconds"] = stats.messages, stats.seconds

        if not rate:
            produce()  # capacity mode: the backlog is in Kafka before the pipeline starts
            sent["start"] = time.time()
        cpu_start = tree_cpu_seconds()
        queries = [
            house.start_bronze_kafka(bootstrap=broker.bootstrap, topics=[topic], starting_offsets="earliest"),
            house.start_silver(),
        ]
        if rate:
            time.sleep(3.0)  # let the queries' first (empty) triggers pass
            threading.Thread(target=produce, daemon=True).start()
        try:

            def done() -> bool:
                if "n" not in sent or committed_kafka_messages(settings, name) < sent["n"]:
                    return False
                return caught_up(settings, "silver")

            wait_until(done, queries, timeout_s=timeout_s, what="all alerts to reach silver", poll_s=0.25)
            cpu_end = tree_cpu_seconds()
        finally:
            stop_all(queries)
    commits, latencies = silver_visibility(table_path(settings.lake_uri, "silver.alerts"))
    last_visible = float(np.max(commits)) if len(commits) else time.time()
    first_visible = float(np.min(commits)) if len(commits) else last_visible
    steady, n_commits = steady_rate(commits)
    cpu = _cpu_used(cpu_start, cpu_end)
    return {
        "alerts_in_silver": int(len(latencies)),
        "mode": "latency (paced publishing)" if rate else "capacity (backlog drain)",
        "publish_rate_target": rate or None,
        "publish_seconds": round(sent.get("seconds", 0.0), 2),
        "alerts_per_s": round(steady, 1) if steady else None,
        "silver_commits": n_commits,
        "startup_seconds": round(first_visible - sent["start"], 1),
        "alerts_per_s_with_startup": round(len(latencies) / max(last_visible - sent["start"], 1e-9), 1),
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 2) if len(latencies) else None,
        "latency_p99_s": round(float(np.percentile(latencies, 99)), 2) if len(latencies) else None,
        "cpu_seconds": cpu,
        "alerts_per_cpu_s": round(len(latencies) / cpu["total"], 1) if cpu and cpu["total"] else None,
        "stages": _stage_rates(settings),
    }


def _cpu_used(start: dict[str, float] | None, end: dict[str, float] | None) -> dict[str, float] | None:
    """CPU seconds per process kind between two `tree_cpu_seconds` snapshots, and their total."""
    if start is None or end is None:
        return None
    used = {kind: round(end[kind] - start.get(kind, 0.0), 1) for kind in sorted(end)}
    return {**used, "total": round(sum(used.values()), 1)}
