"""Silver dedup state: a batch's check is a search per sorted run, old nights leave memory and come back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from siskin.lake.parquet_files import FileAdd, write_data_files
from siskin.lake.task_writer import WrittenFile
from siskin.lake.transactions import commit_files
from siskin.silver.dedup import SeenCandids, SortedRuns, cutout_masks, keep_masks

SCHEMA = pa.schema([pa.field("candid", pa.int64()), pa.field("night", pa.int32())])


def test_sorted_runs_answer_like_a_set_and_stay_few() -> None:
    rng = np.random.default_rng(0)
    runs, reference = SortedRuns(), set()
    for _ in range(300):
        probe = rng.integers(0, 200_000, 500)
        assert runs.contains(probe).tolist() == [int(p) in reference for p in probe]
        added = rng.integers(0, 200_000, int(rng.integers(0, 800)))
        runs.add(added)
        reference.update(added.tolist())
        sizes = [len(r) for r in runs.runs]
        assert all(a > 2 * b for a, b in zip(sizes, sizes[1:], strict=False))  # geometric: O(log n) runs
    assert len(runs.runs) <= 12


def _silver(tmp_path: Path, nights: dict[int, list[int]]) -> str:
    uri = str(tmp_path / "silver")
    for night, keys in nights.items():
        rows = pa.table({"candid": keys, "night": pa.array([night] * len(keys), pa.int32())}, schema=SCHEMA)
        commit_files(
            uri, write_data_files(rows, uri, ("night",)), SCHEMA, ("night",), app_id=None, version=None
        )
    return uri


def test_nights_are_read_lazily_evicted_beyond_the_limit_and_read_back(tmp_path: Path) -> None:
    uri = _silver(tmp_path, {1: [10, 11], 2: [20], 3: [30], 4: [40]})
    seen = SeenCandids(uri, max_nights=2)
    assert seen.seen(np.array([10, 20, 99]), np.array([1, 2, 1])).tolist() == [True, True, False]
    assert seen.loads == 2 and list(seen.by_night) == [1, 2]
    seen.add(np.array([12]), np.array([1]))  # committed by this process: known without reading silver
    assert seen.seen(np.array([12]), np.array([1])).tolist() == [True] and seen.loads == 2
    assert seen.seen(np.array([30]), np.array([3])).tolist() == [True]
    assert list(seen.by_night) == [1, 3]  # night 2, least recently used, left memory
    assert seen.seen(np.array([20, 21]), np.array([2, 2])).tolist() == [True, False]  # read back from silver
    assert seen.loads == 4 and len(seen.by_night) == 2
    assert seen.seen(np.array([10]), np.array([2])).tolist() == [False]  # keys are per night


def _written(keys: list[int], night: int) -> WrittenFile:
    add = FileAdd(f"night={night}/f.parquet", 1, {"night": str(night)}, 0, "{}", len(keys))
    return WrittenFile("silver.alerts", add, keys)


def test_keep_masks_keep_the_first_unseen_occurrence_across_the_batch(tmp_path: Path) -> None:
    uri = _silver(tmp_path, {7: [1, 2]})
    files = [_written([1, 3, 3, 4], 7), _written([4, 5, 2], 7), _written([6, 1], 8)]
    masks, fresh, nights = keep_masks(files, SeenCandids(uri))
    assert [m.tolist() for m in masks] == [[False, True, False, True], [False, True, False], [True, True]]
    assert fresh.tolist() == [3, 4, 5, 6, 1] and nights.tolist() == [7, 7, 7, 8, 8]
    cutouts = [_written([3, 9, 3], 7), _written([5, 4], 7)]
    assert [m.tolist() for m in cutout_masks(cutouts, fresh)] == [[True, False, False], [True, True]]
