"""The ingest benchmark reports what the issue asks for, and `siskin simulate --to kafka` publishes.

Not a timed test: figures come from `siskin bench ingest` runs (see README); here only the
benchmark's accounting is checked on a small run.
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, TopicPartition

from siskin.cli.main import main
from siskin.config import Settings

pytestmark = pytest.mark.slow


def test_bench_ingest_accounts_for_every_alert(spark_session) -> None:  # noqa: ANN001
    from siskin.bench.ingest import run_ingest_benchmark

    result = run_ingest_benchmark(Settings(), alerts=300, rate=200.0)
    assert {"alerts", "alert_bytes_mean", "alerts_per_s", "latency_p50_s", "latency_p99_s"} <= set(result)
    assert result["alerts"] == result["alerts_in_silver"] == 300
    assert 30_000 < result["alert_bytes_mean"] < 90_000
    assert 0 < result["latency_p50_s"] <= result["latency_p99_s"] < 120


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
