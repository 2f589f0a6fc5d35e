"""The ingest benchmark reports what the issue asks for, and `siskin simulate --to kafka` publishes.

Not a timed test: figures come from `siskin bench ingest` runs (see README); here only the
benchmark's accounting is checked (its steady-state arithmetic, and a small run).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition

from siskin.cli.main import main
from siskin.config import Settings


def test_steady_rate_leaves_out_the_first_commit() -> None:
    from siskin.bench.ingest import steady_rate

    # 10,000 alerts visible at t=100 (start-up), then 10,000 more every 8 s
    commits = np.repeat([100.0, 108.0, 116.0, 124.0], 10_000)
    assert steady_rate(commits) == (30_000 / 24.0, 4)
    assert steady_rate(commits[:20_000]) == (None, 2)  # one interval is not a steady state
    assert steady_rate(np.empty(0)) == (None, 0)


def test_cpu_of_the_process_tree_counts_exited_children() -> None:
    import subprocess
    import sys

    from siskin.bench.ingest import tree_cpu_seconds

    before = tree_cpu_seconds()
    if before is None:
        pytest.skip("no /proc: CPU accounting is Linux-only")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
    assert subprocess.run([sys.executable, "-c", burn]).returncode == 0
    after = tree_cpu_seconds()
    assert after is not None and set(after) >= {"driver"}
    assert sum(after.values()) - sum(before.values()) >= 0.45
    assert after["driver"] - before["driver"] >= 0.45  # an exited child counts for its parent


def test_bench_default_is_several_micro_batches() -> None:
    from siskin.bench.ingest import STEADY_TRIGGERS
    from siskin.cli.main import build_parser

    args = build_parser().parse_args(["bench", "ingest"])
    assert args.alerts is None  # run_ingest_benchmark then publishes STEADY_TRIGGERS micro-batches
    assert STEADY_TRIGGERS * Settings().kafka.max_alerts_per_trigger >= 50_000


def test_decode_bench_on_simulated_alerts_reports_decode_and_peek(capsys: pytest.CaptureFixture[str]) -> None:
    from siskin.bench.decode import main as decode_bench

    assert decode_bench(["--simulated", "20", "--batch", "40", "--seconds", "0.2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["alerts"] >= 40 and result["alerts"] % 40 == 0 and result["rejects"] == 0
    assert 30_000 < result["bytes_mean"] < 90_000
    assert result["peek_payloads_per_s"] > 0 and result["peek_payloads_per_cpu_s"] > 0


@pytest.mark.slow
def test_bench_ingest_accounts_for_every_alert(spark_session) -> None:  # noqa: ANN001
    from siskin.bench.ingest import run_ingest_benchmark

    result = run_ingest_benchmark(Settings(), alerts=300, rate=200.0)
    assert {"alerts", "alert_bytes_mean", "alerts_per_s", "latency_p50_s", "latency_p99_s"} <= set(result)
    assert result["alerts"] == result["alerts_in_silver"] == 300
    assert 30_000 < result["alert_bytes_mean"] < 90_000
    assert 0 < result["latency_p50_s"] <= result["latency_p99_s"] < 120
    assert "lake" not in result  # the scratch lake is deleted
    assert result["silver_commits"] >= 1 and set(result["stages"]) <= {"bronze", "silver"}
    for stage in result["stages"].values():  # steady batches only: the first batch of each is left out
        assert 0 < stage["alerts"] < 300 and stage["alerts_per_batch_s"] > 0


@pytest.mark.slow
def test_simulate_publishes_a_paced_night_to_kafka(
    embedded_broker, capsys: pytest.CaptureFixture[str]
) -> None:
    embedded_broker.create_topic("sim-night", 2)
    args = [
        "simulate",
        "--night",
        "20261121",
        "--alerts",
        "60",
        "--rate",
        "120/s",
        "--to",
        "kafka",
        "--topic",
        "sim-night",
        "--bootstrap",
        embedded_broker.bootstrap,
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["published"] == 60 and report["seconds"] >= 0.3  # paced, not a burst
    consumer = Consumer({"bootstrap.servers": embedded_broker.bootstrap, "group.id": "check"})
    try:
        total = sum(
            consumer.get_watermark_offsets(TopicPartition("sim-night", p), timeout=10)[1] for p in (0, 1)
        )
    finally:
        consumer.close()
    assert total == 60
