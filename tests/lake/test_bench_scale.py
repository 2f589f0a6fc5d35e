"""`siskin bench scale` reports what the issue asks for; a tiny run checks its accounting."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

from siskin.config import Settings

pytestmark = pytest.mark.slow


def test_bench_scale_accounts_for_each_size_and_the_metadata(tmp_path: Path) -> None:
    from siskin.bench.scale import iter_sizes, prefill_gold, run_scale_benchmark

    assert list(iter_sizes("10k,1M,2500")) == [10_000, 1_000_000, 2500]
    prefill = prefill_gold(str(tmp_path / "gold"), 3000, seed=3)
    gold = DeltaTable(str(tmp_path / "gold")).to_pandas(columns=["objectId", "bucket"])
    assert len(gold) == 3000 and gold["objectId"].is_unique and prefill["files"] == gold["bucket"].nunique()

    result = run_scale_benchmark(
        Settings(), sizes=[300, 3000], alerts=500, batches=2, versions=150, work_dir=tmp_path / "work"
    )
    for layer in ("gold", "silver"):
        for size in ("300", "3000"):
            figures = result[layer][size]
            assert (
                len(figures["batches_s"]) == 2 and figures["min_s"] <= figures["median_s"] <= figures["max_s"]
            )
    assert result["gold"]["3000"]["prefill"]["objects"] == 3000
    assert result["silver"]["3000"]["prefill"]["alerts"] == 3000
    assert set(result["ratio_largest_to_smallest"]) == {"gold", "silver"}
    meta = result["metadata"]
    assert meta["versions"] >= 150 and meta["cold_load_s"] > 0 and meta["commit_at_150_versions_s"] > 0
    assert not (tmp_path / "work").exists()  # scratch lakes removed
