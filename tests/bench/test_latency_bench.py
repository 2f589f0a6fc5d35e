"""`siskin bench latency`: the warm-up alerts are excluded and every measured alert is accounted for."""

from __future__ import annotations

import pytest

from siskin.config import Settings

pytestmark = pytest.mark.slow


def test_the_warm_path_is_measured_alert_for_alert(tmp_path) -> None:  # noqa: ANN001
    from siskin.bench.latency import run_latency_benchmark

    settings = Settings().model_copy(update={"lake": str(tmp_path / "unused")})
    result = run_latency_benchmark(settings, rate=40.0, duration_s=3.0, warmup_alerts=40, timeout_s=300)
    assert result["warmup_alerts"] == 40
    assert result["published"] == 120 and result["received"] == 120  # the warm-up alerts not counted
    figures = result["all"]
    assert 0 < figures["p50_s"] <= figures["p90_s"] <= figures["p99_s"] <= figures["max_s"] < 120
    assert result["publish_to_silver_commit"]["p50_s"] <= figures["p50_s"]
    # per-stage batch figures of the measured phase only
    silver = result["batch_seconds"]["silver"]
    assert silver["batches"] >= 1 and silver["alerts_per_batch_s"] > 0
    assert result["cpu_ms_per_alert"] is not None and result["cpu_ms_per_alert"] > 0
