"""`python -m siskin.bench.stream_cpu`: every part of the streaming path's Python work is measured."""

from __future__ import annotations

import json

import pytest

from siskin.bench import stream_cpu


def test_parts_and_modules_are_reported_per_alert(capsys: pytest.CaptureFixture[str]) -> None:
    assert stream_cpu.main(["--alerts", "300", "--batch", "150"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["alerts"] == 300 and report["batch"] == 150
    cpu = report["cpu_ms_per_alert"]
    assert {"silver_total", "decode_payloads", "distribute_total", "distribute encode_table"} <= set(cpu)
    assert {"module snia", "module mulens", "module anomaly", "module finkclass"} <= set(cpu)
    assert cpu["silver_total"] > cpu["decode_payloads"] > 0
    assert cpu["distribute_total"] >= cpu["distribute encode_table"] > 0
