"""The decode benchmark runs on real files and prints one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

from siskin.bench.decode import main


def test_decode_benchmark_prints_throughput(ztf_alert_dir: Path, capsys) -> None:
    folder = ztf_alert_dir / "fink-client-samples-2019"
    assert main([str(folder), "--batch", "50", "--seconds", "0.2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["alerts"] >= 50 and result["alerts_per_s"] > 0 and result["bytes_mean"] > 10_000
