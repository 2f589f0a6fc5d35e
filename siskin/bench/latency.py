"""`siskin bench latency`: what a subscriber feels, alert published to the input topic -> on a filter topic.

Simulated ZTF alerts are published at `rate` alerts/s to an input topic of an embedded broker while the
bronze, silver, gold and distribution queries run on a scratch lake, with one filter that passes every
alert. A consumer on that filter topic takes each message's `siskin_sent_ns` header (the input
message's send time, carried through bronze and silver) and records receive time - send time. Prints
one JSON object: p50, p90, p99 and max over all alerts, and the same without the first
`warmup_s` seconds of publishing, per-stage batch seconds, and the CPU the run's processes used per
alert while the alerts flowed.

A broker runs for months: what a subscriber feels is the warm pipeline, not a cold start. So before the
measured alerts, `warmup_alerts` other alerts (another simulated night) go through the whole path and
are awaited on the filter topic: Spark's Python workers are started and have loaded the science
modules' models, and the JVM has compiled its hot paths. Only the alerts published after that count.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings
from siskin.streams.distribute import DistributeStage
from siskin.streams.filters.base import Filter

INPUT_TOPIC = "ztf-latency-bench"


class PassAll(Filter):
    """The benchmark's filter: every alert with a candid passes (measures the path, not a selection)."""

    name: ClassVar[str] = "bench_all"
    description: ClassVar[str] = "benchmark: every alert"
    version: ClassVar[str] = "1"
    survey: ClassVar[str] = "ztf"
    inputs: ClassVar[tuple[str, ...]] = ("candid",)

    def keep(self, batch: pa.Table) -> pa.Array | pa.ChunkedArray:
        return pc.is_valid(batch.column("candid"))


class BenchStage(DistributeStage):
    """The distribution stage with only the pass-all filter."""

    def __post_init__(self) -> None:
        self.filters = {"ztf": [PassAll()], "rubin": []}
        super().__post_init__()


def percentiles(values: np.ndarray) -> dict[str, float | None]:
    """p50/p90/p99/max of latencies in seconds (None when there are none)."""
    if len(values) == 0:
        return {"p50_s": None, "p90_s": None, "p99_s": None, "max_s": None}
    return {
        "p50_s": round(float(np.percentile(values, 50)), 2),
        "p90_s": round(float(np.percentile(values, 90)), 2),
        "p99_s": round(float(np.percentile(values, 99)), 2),
        "max_s": round(float(values.max()), 2),
    }


def _batch_seconds(settings: Settings, since_ns: int = 0) -> dict[str, dict[str, float]]:
    """Per query, from `ops.batches` (batches started after `since_ns`): batches with input, median and
    max seconds, alerts per batch-second."""
    import pandas as pd

    from siskin.lake.catalog import table_path
    from siskin.lake.transactions import open_table

    ops = open_table(table_path(settings.lake_uri, "ops.batches"))
    if ops is None:
        return {}
    frame = ops.to_pandas(columns=["query", "seconds", "input_rows", "started_at"])
    since = pd.Timestamp(since_ns, unit="ns", tz="UTC")
    frame = frame[(frame["input_rows"] > 0) & (pd.to_datetime(frame["started_at"], utc=True) >= since)]
    out = {}
    for query, group in frame.groupby(frame["query"].str.split("_").str[0]):
        out[str(query)] = {
            "batches": float(len(group)),
            "median_s": round(float(group["seconds"].median()), 2),
            "max_s": round(float(group["seconds"].max()), 2),
            "alerts_per_batch_s": round(
                float(group["input_rows"].sum() / max(group["seconds"].sum(), 1e-9)), 1
            ),
        }
    return out


def _receive(bootstrap: str, topic: str, stop: threading.Event, out: list[tuple[int, int]]) -> None:
    """Consume the filter topic, recording (sent_ns, received_ns) per message, until stop."""
    from confluent_kafka import Consumer

    from siskin.streams.topics import SENT_HEADER

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "siskin-latency-bench",
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
        }
    )
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            for msg in consumer.consume(500, 0.2):
                now = time.time_ns()
                if msg.error() is not None:
                    continue
                sent = dict(msg.headers() or []).get(SENT_HEADER)
                if sent is not None:
                    out.append((int(sent), now))
    finally:
        consumer.close()


def run_latency_benchmark(
    settings: Settings,
    *,
    rate: float = 250.0,
    duration_s: float = 60.0,
    partitions: int = 4,
    warmup_s: float = 10.0,
    warmup_alerts: int = 1000,
    night: int = 20261121,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Warm the path with `warmup_alerts` alerts, then publish `rate * duration_s` alerts paced and wait
    until all are on the filter topic; the figures of those."""
    from siskin.bench.ingest import _cpu_used, silver_visibility, tree_cpu_seconds
    from siskin.broker.tansu import EmbeddedBroker
    from siskin.lake.catalog import table_path
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import stop_all
    from siskin.simulate.ztf import simulate_night
    from siskin.sources.kafka_publish import publish

    n = int(rate * duration_s)
    payloads = list(simulate_night(night, n_alerts=n, seed=11))
    warm = list(simulate_night(night - 1, n_alerts=warmup_alerts, seed=12)) if warmup_alerts else []
    scratch = Path(tempfile.mkdtemp(prefix="siskin-latency-"))
    received: list[tuple[int, int]] = []
    to_silver = np.empty(0)
    batches: dict[str, dict[str, float]] = {}
    sent: dict[str, Any] = {}
    cpu_start = cpu_end = None
    try:
        with EmbeddedBroker(scratch / "broker") as broker:
            broker.create_topic(INPUT_TOPIC, partitions)
            run = settings.model_copy(
                update={
                    "lake": str(scratch / "lake"),
                    "streams": settings.streams.model_copy(
                        update={"bootstrap": broker.bootstrap, "topic_prefix": "bench_", "fink_compat": False}
                    ),
                }
            )
            house = Lakehouse(run)
            house.ensure_tables()
            queries = [
                house.start_bronze_kafka(bootstrap=broker.bootstrap, topics=[INPUT_TOPIC]),
                house.start_silver(),
                house.start_gold(),
                house.start_distribute_with(BenchStage),
            ]
            stop = threading.Event()
            topic = "bench_bench_all"
            # created before the consumer subscribes: librdkafka looks again for a missing topic only
            # every topic.metadata.refresh.interval.ms (5 min), which would be measured as latency
            broker.create_topic(topic, 1)
            consumer = threading.Thread(
                target=_receive, args=(broker.bootstrap, topic, stop, received), daemon=True
            )

            def wait_for(count: int) -> None:
                deadline = time.monotonic() + timeout_s
                while len(received) < count and time.monotonic() < deadline:
                    if any(q.exception() is not None for q in queries):
                        raise RuntimeError(
                            f"a query failed: {[str(q.exception()) for q in queries if q.exception()]}"
                        )
                    time.sleep(0.5)

            try:
                time.sleep(3.0)  # the queries' first (empty) triggers
                consumer.start()
                if warm:
                    publish(warm, INPUT_TOPIC, broker.bootstrap, rate_per_s=rate)
                    wait_for(len(warm))
                    sent["warmup_received"] = len(received)
                    time.sleep(2 * settings.stream.trigger_seconds)  # the stages' last warm-up batches
                cpu_start = tree_cpu_seconds()
                sent["start_ns"] = time.time_ns()
                stats = publish(payloads, INPUT_TOPIC, broker.bootstrap, rate_per_s=rate)
                sent["n"], sent["seconds"] = stats.messages, stats.seconds
                wait_for(len(warm) + len(payloads))
                cpu_end = tree_cpu_seconds()
            finally:
                stop.set()
                consumer.join(timeout=10)
                stop_all(queries)
                house.release()
            committed, to_silver = silver_visibility(table_path(run.lake_uri, "silver.alerts"))
            to_silver = to_silver[committed - to_silver >= sent.get("start_ns", 0) / 1e9]
            batches = _batch_seconds(run, sent.get("start_ns", 0))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cpu = _cpu_used(cpu_start, cpu_end)
    pairs = np.array(received, dtype=np.int64).reshape(-1, 2)
    pairs = pairs[pairs[:, 0] >= sent.get("start_ns", 0)]  # the measured alerts, not the warm-up
    latency = (pairs[:, 1] - pairs[:, 0]) / 1e9
    steady = latency[pairs[:, 0] >= sent.get("start_ns", 0) + int(warmup_s * 1e9)]
    return {
        "what": "input topic -> same alert on a filter topic (bronze, silver, gold, distribute running)",
        "rate_target": rate,
        "warmup_alerts": len(warm),
        "published": sent.get("n"),
        "publish_seconds": round(sent.get("seconds", 0.0), 1),
        "publish_rate": round(sent["n"] / sent["seconds"], 1) if sent.get("seconds") else None,
        "received": int(len(latency)),
        "trigger_seconds": settings.stream.trigger_seconds,
        "all": percentiles(latency),
        "publish_to_silver_commit": percentiles(to_silver),
        "science_modules": settings.science.modules,
        "batch_seconds": batches,
        # CPU of every process of the run while the alerts flowed (driver incl. the publisher and the
        # consumer threads, JVM, Python workers, broker): comparable on a shared host, unlike wall time
        "cpu_seconds": cpu,
        "cpu_ms_per_alert": round(cpu["total"] * 1e3 / len(latency), 2) if cpu and len(latency) else None,
        f"after_{warmup_s:.0f}s_warmup": percentiles(steady),
    }
