"""`siskin bench sql`: latency of the warm SQL endpoint, p50/p95 of a point query and a nightly aggregate.

By default a scratch lake is filled with N synthetic ZTF alerts (`silver.alerts`: objects with ~10
alerts each over several nights, files of 20k rows sorted by objectId within each night, as `siskin
maintain` leaves them), written as Parquet and committed with delta-rs (no Spark). With `--lake` the
given lake is used instead. An endpoint is started on it (`siskin serve sql`), each query runs a few
times to warm up, then `--repeat` times, timed from the client (PyHive: send, plan, run, fetch).

    siskin bench sql --alerts 1000000 --repeat 20
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings

NIGHT = 20261101
ALERTS_PER_OBJECT = 10
FILE_ROWS = 20_000


def _night_jd(night: int) -> float:
    from datetime import UTC, datetime

    day = datetime.strptime(str(night), "%Y%m%d").replace(tzinfo=UTC)
    return day.timestamp() / 86400.0 + 2440587.5


def synthetic_alerts(n_alerts: int, nights: int, seed: int) -> pa.Table:
    """ZTF-like silver rows: objectId, candid, jd, fid, magnitudes, position, quality, timings, night."""
    from siskin.lake.catalog import table

    rng = np.random.default_rng(seed)
    n_objects = max(1, n_alerts // ALERTS_PER_OBJECT)
    obj = rng.integers(0, n_objects, n_alerts)
    night_index = rng.integers(0, nights, n_alerts)
    night = np.array([int(f"{NIGHT + i}") for i in range(nights)], np.int32)[night_index]
    jd = np.array([_night_jd(int(n)) for n in range(NIGHT, NIGHT + nights)])[night_index] + rng.uniform(
        0.1, 0.45, n_alerts
    )
    rb = rng.uniform(0.0, 1.0, n_alerts)
    processed = np.datetime64("2026-11-01T06:00:00", "us") + rng.integers(0, 3600 * 10**6, n_alerts)
    cols: dict[str, Any] = {
        "objectId": pa.array(np.char.add("ZTF26", np.char.zfill(obj.astype(str), 8)), pa.string()),
        "candid": pa.array(np.arange(n_alerts, dtype=np.int64) + 3 * 10**15),
        "survey": pa.array(["ztf"] * n_alerts, pa.string()),
        "schema_version": pa.array(["4.02"] * n_alerts, pa.string()),
        "jd": pa.array(jd),
        "fid": pa.array(rng.integers(1, 3, n_alerts).astype(np.int32)),
        "magpsf": pa.array(rng.uniform(15.0, 21.0, n_alerts).astype(np.float32)),
        "sigmapsf": pa.array(rng.uniform(0.01, 0.3, n_alerts).astype(np.float32)),
        "diffmaglim": pa.array(rng.uniform(19.5, 21.0, n_alerts).astype(np.float32)),
        "isdiffpos": pa.array(["t"] * n_alerts, pa.string()),
        "ra": pa.array(rng.uniform(0.0, 360.0, n_alerts)),
        "dec": pa.array(rng.uniform(-30.0, 90.0, n_alerts)),
        "rb": pa.array(rb.astype(np.float32)),
        "quality_ok": pa.array(rb >= 0.55),
        "quality_reason": pc.if_else(pa.array(rb < 0.55), pa.scalar("rb"), pa.scalar(None, pa.string())),
        "ingest_time": pa.array(processed - np.timedelta64(2, "s"), pa.timestamp("us", tz="UTC")),
        "processed_at": pa.array(processed, pa.timestamp("us", tz="UTC")),
        "night": pa.array(night),
    }
    schema = table("silver.alerts").arrow_schema()
    arrays = [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n_alerts, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema).sort_by(
        [("night", "ascending"), ("objectId", "ascending")]
    )


def fill_lake(lake: Path, n_alerts: int, nights: int = 5, seed: int = 7) -> dict[str, Any]:
    """Every catalog table created; `silver.alerts` filled with `n_alerts` synthetic alerts in one commit."""
    from siskin.lake.catalog import table, tables
    from siskin.lake.parquet_files import write_data_files
    from siskin.lake.transactions import commit_files, ensure_table

    started = time.monotonic()
    lake.mkdir(parents=True, exist_ok=True)
    for spec in tables():
        ensure_table(spec.path(str(lake)), spec.arrow_schema(), spec.partition_by, spec.description)
    spec = table("silver.alerts")
    uri = spec.path(str(lake))
    adds = []
    chunk = 500_000
    for lo in range(0, n_alerts, chunk):
        part = synthetic_alerts(min(chunk, n_alerts - lo), nights, seed + lo)
        part = part.set_column(
            part.schema.get_field_index("candid"), "candid", pa.array(part.column("candid").to_numpy() + lo)
        )
        adds += write_data_files(part, uri, spec.partition_by, target_rows=FILE_ROWS)
    commit_files(uri, adds, spec.arrow_schema(), spec.partition_by, app_id=None, version=None)
    return {
        "alerts": n_alerts,
        "nights": nights,
        "files": len(adds),
        "seconds": round(time.monotonic() - started, 1),
    }


def _timed(cursor: Any, sql: str, repeat: int, warmup: int) -> dict[str, Any]:
    times, rows = [], 0
    for i in range(warmup + repeat):
        started = time.perf_counter()
        cursor.execute(sql)
        rows = len(cursor.fetchall())
        if i >= warmup:
            times.append(time.perf_counter() - started)
    arr = np.array(times)
    figures = {
        "sql": sql,
        "rows": rows,
        "p50_s": round(float(np.percentile(arr, 50)), 3),
        "p95_s": round(float(np.percentile(arr, 95)), 3),
        "min_s": round(float(arr.min()), 3),
        "max_s": round(float(arr.max()), 3),
        "runs": repeat,
    }
    print(json.dumps(figures), file=sys.stderr, flush=True)  # progress: each query's figures as they come
    return figures


def run_sql_benchmark(
    *, alerts: int = 1_000_000, lake: Path | None = None, repeat: int = 20, warmup: int = 2, nights: int = 5
) -> dict[str, Any]:
    """Fill a lake (unless given), start the endpoint on it, time the two queries; one JSON-able dict."""
    from siskin.broker.tansu import free_port
    from siskin.query import endpoint as ep

    scratch = None
    result: dict[str, Any] = {}
    if lake is None:
        scratch = tempfile.TemporaryDirectory(prefix="siskin-bench-sql-")
        lake = Path(scratch.name) / "lake"
        result["fill"] = fill_lake(lake, alerts, nights)
    settings = Settings(lake=str(lake))
    started = time.monotonic()
    info = ep.start(settings, port=free_port("127.0.0.1"))
    result["endpoint_start_s"] = round(time.monotonic() - started, 1)
    try:
        connection = ep.connect(settings, info)
        cursor = connection.cursor()
        cursor.execute("SELECT objectId, night FROM silver.alerts LIMIT 1")
        object_id, night = cursor.fetchall()[0]
        cursor.execute("SELECT count(*) FROM silver.alerts")
        result["lake_alerts"] = int(cursor.fetchall()[0][0])
        result["point_query"] = _timed(
            cursor,
            f"SELECT * FROM gold.lightcurves WHERE objectId = '{object_id}' ORDER BY jd",
            repeat,
            warmup,
        )
        result["point_query_silver"] = _timed(
            cursor,
            f"SELECT candid, jd, fid, magpsf, sigmapsf FROM silver.alerts WHERE objectId = '{object_id}'",
            repeat,
            warmup,
        )
        result["nightly_aggregate"] = _timed(
            cursor,
            "SELECT fid, count(*) AS n, avg(magpsf) AS mean_mag, avg(CAST(quality_ok AS INT)) AS ok "
            f"FROM silver.alerts WHERE night = {int(night)} GROUP BY fid",
            repeat,
            warmup,
        )
        connection.close()
    finally:
        ep.stop(settings)
        if scratch is not None:
            scratch.cleanup()
    return result


def cmd_bench_sql(args: Any) -> int:
    """`siskin bench sql`: print the figures as one JSON object."""
    print(
        json.dumps(
            run_sql_benchmark(
                alerts=args.alerts, lake=args.lake, repeat=args.repeat, warmup=args.warmup, nights=args.nights
            )
        )
    )
    return 0


def add_bench_command(sub: Any) -> None:
    """Add `sql` under the existing `siskin bench` parser."""
    import argparse

    bench = sub.choices["bench"]
    actions = [a for a in bench._actions if isinstance(a, argparse._SubParsersAction)]
    p = actions[0].add_parser("sql", help="SQL endpoint latency: point query and nightly aggregate p50/p95")
    p.add_argument("--alerts", type=int, default=1_000_000, help="synthetic alerts in the scratch lake")
    p.add_argument("--nights", type=int, default=5)
    p.add_argument("--lake", type=Path, help="benchmark this lake instead of a synthetic one")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per query")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per query first")
    p.set_defaults(func=cmd_bench_sql)
