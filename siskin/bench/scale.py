"""`siskin bench scale`: does a micro-batch cost what the batch holds, or what the lake has accumulated?

On a scratch lake, for each size N (default 10k, 1M and 10M):
- gold: `gold.objects` is pre-filled with N synthetic objects (Parquet files written straight into the
  sky-cell layout, one commit), then micro-batches of `--alerts` alerts run through the gold stage's
  skeleton (`GoldStage`: already committed? -> fold with the objects' current rows read from their cells
  -> MERGE with the app transaction -> `ops.batches` row). A batch is one Rubin visit: alerts in a field
  3.5 degrees across; every pre-filled object in the field gets an alert, new objects make up the rest.
- silver: `silver.alerts` is pre-filled with N alerts of the batch's own night (the worst case for the
  duplicate check), then micro-batches of `--alerts` alerts run through `SilverStage` (duplicate check
  against the night's keys, rewrite of the files holding duplicates, commit, `ops.batches` row); 1% of
  each batch are alerts silver already holds. The first batch of the night also reads the night's keys
  from silver (once per night and process) and is reported apart.
Spark's part of both stages (reading the batch's input files, decoding, writing the output files in
tasks) depends only on the batch and is left out: the silver files are written beforehand (not timed).
- metadata: a table grown to `--versions` commits (checkpoints every `maintain.checkpoint_interval`):
  a cold load with and without checkpoints, the incremental "already committed?" check, the streaming
  source's latest offset after a new commit, and one commit; and the check done the old way (a full load).
All lakes are pre-filled first, then the batches run round robin over them, so a change in the
machine's load hits every size alike. Prints one JSON object (every batch's seconds are in it).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from siskin.config import Settings
from siskin.gold.cells import cell_of
from siskin.gold.inputs import GOLD_INPUT_SCHEMA
from siskin.gold.objects import BANDS, gold_schema
from siskin.lake.parquet_files import FileAdd, file_stats

FIELD_RADIUS_DEG = 1.75  # a Rubin visit: 9.6 deg^2
FOOTPRINT_SIN_DEC = (-1.0, 0.5)  # objects uniform in sin(dec) over dec < +30 (Rubin's sky)
NIGHT = 20261121
NIGHT_JD = 2461366.5
PREFILL_CHUNK = 500_000


def _timestamp(n: int) -> pa.Array:
    return pa.array(np.full(n, np.datetime64("2026-11-01T00:00:00", "us")), pa.timestamp("us", tz="UTC"))


def synthetic_objects(
    ids: np.ndarray, ra: np.ndarray, dec: np.ndarray, cells: np.ndarray, seed: int
) -> pa.Table:
    """Gold rows for objects at these positions (values drawn at random, shapes as the fold makes them)."""
    n = len(ids)
    rng = np.random.default_rng(seed)
    first = rng.uniform(NIGHT_JD - 365.0, NIGHT_JD - 1.0, n)
    last = np.minimum(first + rng.exponential(30.0, n), NIGHT_JD - 0.5)
    n_alerts = rng.geometric(0.2, n).astype(np.int64)
    n_good = np.maximum(1, rng.binomial(n_alerts, 0.7)).astype(np.int64)  # each has a position
    rad_ra, rad_dec = np.radians(ra), np.radians(dec)
    cols: dict[str, Any] = {
        "survey": pa.array(["rubin"] * n, pa.string()),
        "objectId": pa.array(ids.astype(str), pa.string()),
        "bucket": cells.astype(np.int32),
        "first_jd": first,
        "last_jd": last,
        "first_night": np.full(n, NIGHT - 10000, np.int32),
        "last_night": np.full(n, NIGHT - 1, np.int32),
        "n_alerts": n_alerts,
        "n_good": n_good,
        "last_candid": rng.integers(1, 2**62, n),
        "last_rb": rng.uniform(0.0, 1.0, n),
        "last_quality_ok": rng.uniform(0.0, 1.0, n) < 0.7,
        "sum_x": np.cos(rad_dec) * np.cos(rad_ra) * n_good,
        "sum_y": np.cos(rad_dec) * np.sin(rad_ra) * n_good,
        "sum_z": np.sin(rad_dec) * n_good,
        "ra": ra,
        "dec": dec,
        "last_class": pa.nulls(n, pa.string()),
        "last_class_version": pa.nulls(n, pa.string()),
        "last_class_jd": pa.nulls(n, pa.float64()),
        "updated_at": _timestamp(n),
    }
    for band in BANDS:
        mag = rng.uniform(16.0, 24.5, n)
        mag[rng.uniform(0.0, 1.0, n) < 0.4] = np.nan
        cols[f"last_mag_{band}"] = mag
        cols[f"last_magerr_{band}"] = np.where(np.isnan(mag), np.nan, rng.uniform(0.01, 0.3, n))
        cols[f"last_jd_{band}"] = np.where(np.isnan(mag), np.nan, last)
    cols["color_g_r"] = cols["last_mag_g"] - cols["last_mag_r"]
    cols["color_dt"] = np.abs(cols["last_jd_g"] - cols["last_jd_r"])
    schema = gold_schema()
    arrays = [c if isinstance(c := cols[f.name], pa.Array) else pa.array(c, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_partition_file(uri: str, column: str, value: int, part: pa.Table) -> FileAdd:
    rel = f"{column}={value}/part-{uuid.uuid4().hex}.parquet"
    os.makedirs(f"{uri}/{column}={value}", exist_ok=True)
    pq.write_table(part, f"{uri}/{rel}", compression="zstd")
    return FileAdd(
        rel,
        os.path.getsize(f"{uri}/{rel}"),
        {column: str(value)},
        int(time.time() * 1000),
        file_stats(part),
        part.num_rows,
    )


def prefill_gold(uri: str, n_objects: int, *, seed: int = 1) -> dict[str, Any]:
    """Pre-fill `gold.objects` with `n_objects` synthetic objects, one file per sky cell, one commit.

    Streams by chunks of cells, so 10M objects need well under 2 GB of memory.
    """
    from siskin.lake.catalog import table
    from siskin.lake.transactions import commit_files, ensure_table

    started = time.monotonic()
    spec = table("gold.objects")
    ensure_table(uri, spec.arrow_schema(), spec.partition_by)
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0.0, 360.0, n_objects)
    dec = np.degrees(np.arcsin(rng.uniform(*FOOTPRINT_SIN_DEC, n_objects)))
    cells = cell_of(ra, dec)
    order = np.argsort(cells, kind="stable")
    ra, dec, cells = ra[order], dec[order], cells[order]
    ids = 10**12 + rng.permutation(n_objects).astype(np.int64) * 7  # Rubin-like integer ids, no spatial order
    bounds = np.flatnonzero(np.diff(cells)) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [n_objects]])
    adds: list[FileAdd] = []
    first = 0
    while first < len(starts):
        last = first
        while last < len(starts) and ends[last] - starts[first] <= PREFILL_CHUNK:
            last += 1
        last = max(last, first + 1)
        lo, hi = int(starts[first]), int(ends[last - 1])
        rows = synthetic_objects(ids[lo:hi], ra[lo:hi], dec[lo:hi], cells[lo:hi], seed + lo)
        for k in range(first, last):
            part = rows.slice(int(starts[k]) - lo, int(ends[k] - starts[k])).drop_columns(["bucket"])
            adds.append(_write_partition_file(uri, "bucket", int(cells[starts[k]]), part))
        first = last
    commit_files(uri, adds, spec.arrow_schema(), spec.partition_by, app_id=None, version=None)
    return {"objects": n_objects, "files": len(adds), "seconds": round(time.monotonic() - started, 1)}


def visit_alerts(gold_uri: str, n_alerts: int, rng: np.random.Generator, batch: int) -> pd.DataFrame:
    """One visit's alerts in the gold input shape: every gold object in the field, then new objects."""
    from siskin.lake.transactions import current_table

    ra0 = rng.uniform(0.0, 360.0)
    dec0 = float(np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-70.0)), np.sin(np.radians(20.0))))))
    grid = np.linspace(-FIELD_RADIUS_DEG, FIELD_RADIUS_DEG, 15)  # finer than a cell: every cell is hit
    gy, gx = np.meshgrid(grid, grid)
    cells = np.unique(cell_of(ra0 + gx.ravel() / np.cos(np.radians(dec0)), dec0 + gy.ravel()))
    delta = current_table(gold_uri)
    assert delta is not None
    known = (
        delta.to_pyarrow_dataset(file_pruning_predicate=[("bucket", "in", [str(c) for c in cells])])
        .to_table(columns=["objectId", "ra", "dec"])
        .to_pandas()
    )
    dx = ((known["ra"].to_numpy(float) - ra0 + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec0))
    dy = known["dec"].to_numpy(float) - dec0
    existing = known[np.hypot(dx, dy) < FIELD_RADIUS_DEG].head(n_alerts)
    n_new = n_alerts - len(existing)
    r = FIELD_RADIUS_DEG * np.sqrt(rng.uniform(0.0, 1.0, n_new))
    theta = rng.uniform(0.0, 2.0 * np.pi, n_new)
    new_dec = dec0 + r * np.sin(theta)
    new_ra = (ra0 + r * np.cos(theta) / np.cos(np.radians(dec0))) % 360.0
    jitter = 0.1 / 3600.0
    ra = np.concatenate([existing["ra"].to_numpy(float), new_ra]) + rng.normal(0.0, jitter, n_alerts)
    dec = np.concatenate([existing["dec"].to_numpy(float), new_dec]) + rng.normal(0.0, jitter, n_alerts)
    ids = np.concatenate(
        [
            existing["objectId"].to_numpy(str),
            np.array([f"{9 * 10**15 + batch * 10**7 + i}" for i in range(n_new)]),
        ]
    )
    good = rng.uniform(0.0, 1.0, n_alerts) < 0.7
    frame = pd.DataFrame(
        {
            "survey": "rubin",
            "objectId": ids,
            "candid": np.arange(n_alerts, dtype=np.int64) + (batch + 1) * 10**9,
            "jd": NIGHT_JD + 0.3 + batch * 1e-3,
            "band": rng.choice(list(BANDS), n_alerts),
            "mag": rng.uniform(17.0, 24.0, n_alerts),
            "magerr": rng.uniform(0.01, 0.2, n_alerts),
            "ra": ra % 360.0,
            "dec": dec,
            "rb": rng.uniform(0.0, 1.0, n_alerts),
            "quality_ok": good,
            "night": np.int32(NIGHT),
        }
    )
    out = pa.Table.from_pandas(
        frame.reindex(columns=GOLD_INPUT_SCHEMA.names), schema=GOLD_INPUT_SCHEMA, preserve_index=False
    ).to_pandas()
    out.attrs["existing"] = len(existing)
    return out


def _spread(seconds: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "batches_s": [round(s, 3) for s in seconds],
    }


def _stage_run(stage: Any, output: Any, batch_id: int) -> float:
    """Seconds of one micro-batch through a stage's skeleton, its tasks' output given."""
    started = time.perf_counter()
    with mock.patch.object(type(stage), "produce", lambda self, df, b: output):
        stage(None, batch_id)
    return time.perf_counter() - started


class _FileRefs:
    """Stands for the stream's DataFrame of silver file references (the inputs are given directly)."""

    def toArrow(self) -> None:  # noqa: N802 - the DataFrame method's name
        return None


def _gold_run(stage: Any, frame: pd.DataFrame, batch_id: int) -> float:
    """Seconds of one gold micro-batch through its skeleton (fold, class changes, MERGE), inputs given."""
    inputs = pa.Table.from_pandas(
        frame.reindex(columns=GOLD_INPUT_SCHEMA.names), schema=GOLD_INPUT_SCHEMA, preserve_index=False
    )
    started = time.perf_counter()
    with mock.patch("siskin.gold.batch.read_inputs", lambda lake, refs: inputs):
        stage(_FileRefs(), batch_id)
    return time.perf_counter() - started


@dataclass
class Runner:
    """One layer on one pre-filled lake: `step(b)` runs micro-batch `b` and returns its seconds."""

    prefill: dict[str, Any]
    step: Callable[[int], float]
    notes: dict[str, list[int]] = field(default_factory=dict)


def gold_runner(settings: Settings, n_objects: int, *, alerts: int, seed: int) -> Runner:
    """Gold micro-batches on a gold table pre-filled with `n_objects` objects."""
    from siskin.gold.batch import GoldStage
    from siskin.gold.merge import GOLD
    from siskin.lake.catalog import table

    uri = table(GOLD).path(settings.lake_uri)
    stage = GoldStage(settings, "bench-gold", query="gold")
    rng = np.random.default_rng(seed + 7)
    existing: list[int] = []

    def step(b: int) -> float:
        frame = visit_alerts(uri, alerts, rng, b)
        existing.append(int(frame.attrs["existing"]))
        return _gold_run(stage, frame, b)

    return Runner(prefill_gold(uri, n_objects, seed=seed), step, {"existing_objects_per_batch": existing})


def _silver_rows(candids: np.ndarray, seed: int) -> pa.Table:
    """Silver alert rows holding the columns the duplicate check and the readers' filters use."""
    rng = np.random.default_rng(seed)
    n = len(candids)
    return pa.table(
        {
            "objectId": pa.array([f"ZTF26{c % 10**7:07d}" for c in candids], pa.string()),
            "candid": pa.array(candids, pa.int64()),
            "jd": pa.array(NIGHT_JD + rng.uniform(0.0, 0.4, n)),
            "ra": pa.array(rng.uniform(0.0, 360.0, n)),
            "dec": pa.array(rng.uniform(-30.0, 90.0, n)),
            "magpsf": pa.array(rng.uniform(15.0, 21.0, n)),
            "night": pa.array(np.full(n, NIGHT, np.int32)),
        }
    )


def prefill_silver(uri: str, n_alerts: int, *, seed: int) -> dict[str, Any]:
    """Pre-fill `silver.alerts` with `n_alerts` alerts of night NIGHT (files of 500k rows, one commit)."""
    from siskin.lake.catalog import table
    from siskin.lake.parquet_files import write_data_files
    from siskin.lake.transactions import commit_files, ensure_table

    started = time.monotonic()
    spec = table("silver.alerts")
    ensure_table(uri, spec.arrow_schema(), spec.partition_by)
    adds: list[FileAdd] = []
    for lo in range(0, n_alerts, PREFILL_CHUNK):
        candids = np.arange(lo, min(n_alerts, lo + PREFILL_CHUNK), dtype=np.int64) * 2 + 10**15
        adds += write_data_files(_silver_rows(candids, seed + lo), uri, ("night",), target_rows=PREFILL_CHUNK)
    commit_files(uri, adds, spec.arrow_schema(), spec.partition_by, app_id=None, version=None)
    return {"alerts": n_alerts, "files": len(adds), "seconds": round(time.monotonic() - started, 1)}


def _silver_batch_files(
    uri: str, n_prefilled: int, alerts: int, batch: int, rng: np.random.Generator
) -> list[Any]:
    """What a batch's tasks would hand the driver: four files of new alerts, 1% of them already in silver.

    Alert keys grow with time (ZTF candid, Rubin diaSourceId), so the new keys follow the pre-filled ones.
    """
    from siskin.lake.parquet_files import write_data_files_with_keys
    from siskin.lake.task_writer import WrittenFile

    fresh = np.arange(alerts, dtype=np.int64) + 10**15 + 2 * n_prefilled + batch * alerts
    again = max(1, alerts // 100) if n_prefilled else 0
    fresh[:again] = rng.integers(0, n_prefilled, again) * 2 + 10**15
    rng.shuffle(fresh)
    written = []
    for part in np.array_split(fresh, 4):
        for add, keys in write_data_files_with_keys(
            _silver_rows(part, batch), uri, ("night",), "candid", target_rows=len(part)
        ):
            written.append(WrittenFile("silver.alerts", add, keys))
    return written


def silver_runner(settings: Settings, n_alerts: int, *, alerts: int, seed: int) -> Runner:
    """Silver micro-batches on a silver table pre-filled with `n_alerts` alerts of the same night."""
    from siskin.lake.catalog import table
    from siskin.silver.batch import SilverStage

    uri = table("silver.alerts").path(settings.lake_uri)
    prefill = prefill_silver(uri, n_alerts, seed=seed)
    stage = SilverStage(settings, "bench-silver", query="silver")
    rng = np.random.default_rng(seed + 11)

    def step(b: int) -> float:
        written = _silver_batch_files(uri, n_alerts, alerts, b, rng)
        started = time.perf_counter()
        with mock.patch("siskin.silver.batch.write_in_tasks", return_value=written):
            stage(None, b)  # type: ignore[arg-type]
        return time.perf_counter() - started

    return Runner(prefill, step)


@dataclass
class _Grown:
    uri: str
    versions: int
    commit_s: list[float] = field(default_factory=list)


def _tiny_commit(uri: str, schema: pa.Schema, app_id: str, version: int) -> float:
    from siskin.lake.parquet_files import write_data_files
    from siskin.lake.transactions import commit_files

    files = write_data_files(pa.table({"v": pa.array([version], pa.int64())}, schema=schema), uri, ())
    started = time.perf_counter()
    commit_files(uri, files, schema, (), app_id=app_id, version=version)
    return time.perf_counter() - started


def grow_table(uri: str, versions: int) -> _Grown:
    """A table of `versions` real commits (one row each, app transaction per commit), each commit timed."""
    schema = pa.schema([pa.field("v", pa.int64())])
    grown = _Grown(uri, versions)
    for v in range(versions):
        grown.commit_s.append(_tiny_commit(uri, schema, "bench-meta", v))
    return grown


def _timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    best = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best.append(time.perf_counter() - started)
    return round(statistics.median(best), 4)


def _commit_elsewhere(uri: str, version: int) -> None:
    """A commit by another writer (another thread, so this thread's open table does not see it)."""
    schema = pa.schema([pa.field("v", pa.int64())])
    worker = threading.Thread(target=_tiny_commit, args=(uri, schema, "other-writer", version))
    worker.start()
    worker.join()


def bench_metadata(work: Path, versions: int) -> dict[str, Any]:
    """Per-batch metadata costs on a table of `versions` commits."""
    from deltalake import DeltaTable

    from siskin.lake.delta_source import DeltaStreamReader
    from siskin.lake.transactions import already_committed, current_table

    uri = str(work / "meta")
    started = time.monotonic()
    grown = grow_table(uri, versions)
    build_s = time.monotonic() - started
    bare = work / "meta_no_checkpoints"
    (bare / "_delta_log").mkdir(parents=True)
    for name in os.listdir(f"{uri}/_delta_log"):
        if name.endswith(".json"):
            os.link(f"{uri}/_delta_log/{name}", bare / "_delta_log" / name)
    current_table(uri)
    reader = DeltaStreamReader({"path": uri, "filesOnly": "true"}, None)  # type: ignore[arg-type]
    reader._latest_version()
    checks, offsets = [], []
    for k in range(5):
        _commit_elsewhere(uri, k)
        started_check = time.perf_counter()
        already_committed(uri, "bench-meta", versions - 1)
        checks.append(time.perf_counter() - started_check)
        started_offset = time.perf_counter()
        reader.latestOffset({"version": 0}, reader.getDefaultReadLimit())
        offsets.append(time.perf_counter() - started_offset)
    latest = DeltaTable(uri).version()
    DeltaTable(uri).optimize.compact()  # what `siskin maintain` does to the one-file-per-commit table
    schema = pa.schema([pa.field("v", pa.int64())])
    after = [_tiny_commit(uri, schema, "bench-meta", versions + k) for k in range(20)]
    return {
        "versions": latest + 1,
        "build_s": round(build_s, 1),
        "cold_load_s": _timed(lambda: DeltaTable(uri)),
        "cold_load_without_checkpoints_s": _timed(lambda: DeltaTable(str(bare)), repeat=2),
        "already_committed_incremental_s": round(statistics.median(checks), 4),
        "already_committed_full_load_s": _timed(lambda: DeltaTable(uri).transaction_version("bench-meta")),
        "stream_latest_offset_s": round(statistics.median(offsets), 4),
        # one commit (the "already committed?" check included), median over the first and the last 100
        "commit_at_100_versions_s": round(statistics.median(grown.commit_s[:100]), 4),
        f"commit_at_{versions}_versions_s": round(statistics.median(grown.commit_s[-100:]), 4),
        "commit_after_compaction_s": round(statistics.median(after), 4),
    }


def run_scale_benchmark(
    settings: Settings,
    *,
    sizes: list[int],
    alerts: int = 10_000,
    batches: int = 5,
    versions: int = 10_000,
    work_dir: Path | None = None,
    keep: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and return its figures."""
    note = say or (lambda _: None)
    root = Path(work_dir or tempfile.mkdtemp(prefix="siskin-bench-scale-"))
    result: dict[str, Any] = {"alerts_per_batch": alerts, "batches": batches, "gold": {}, "silver": {}}
    makers = {"gold": gold_runner, "silver": silver_runner}
    try:
        runners: dict[tuple[str, int], Runner] = {}
        for n in sizes:
            run = settings.with_overrides(lake=str(root / f"lake_{n}"))
            for layer, make in makers.items():
                note(f"{layer}: pre-filling {n:,} ...")
                runners[layer, n] = make(run, n, alerts=alerts, seed=n % 9973)
        # round robin over the lakes, so a change in the machine's load hits every size alike
        seconds: dict[tuple[str, int], list[float]] = {key: [] for key in runners}
        for b in range(batches + 1):  # batch 0 also pays one-time start-up costs: reported apart
            for key, runner in runners.items():
                seconds[key].append(runner.step(b))
            note(f"round {b} done")
        for (layer, n), runner in runners.items():
            times = seconds[layer, n]
            result[layer][str(n)] = {
                "prefill": runner.prefill,
                **runner.notes,
                "first_batch_s": round(times[0], 3),
                **_spread(times[1:]),
            }
        if len(sizes) > 1:
            lo, hi = str(min(sizes)), str(max(sizes))
            result["ratio_largest_to_smallest"] = {
                layer: round(result[layer][hi]["median_s"] / result[layer][lo]["median_s"], 2)
                for layer in makers
            }
        if versions:
            note(f"metadata: growing a table to {versions:,} versions ...")
            result["metadata"] = bench_metadata(root, versions)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return result


def iter_sizes(text: str) -> Iterator[int]:
    """Sizes like `10k,1M,10M` as integers."""
    units = {"k": 1_000, "m": 1_000_000}
    for part in text.split(","):
        part = part.strip().lower()
        if part:
            yield int(float(part[:-1]) * units[part[-1]]) if part[-1] in units else int(part)


def main() -> None:  # pragma: no cover - `python -m siskin.bench.scale`
    print(json.dumps(run_scale_benchmark(Settings(), sizes=[10_000, 1_000_000])))


if __name__ == "__main__":  # pragma: no cover
    main()
