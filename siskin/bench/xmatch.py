"""`python -m siskin.bench.xmatch`: wall time of the Spark cross-match of N positions against a catalog.

Draws N positions uniformly on the sphere (seeded), writes them as Parquet in a scratch folder (as
silver would hold them), loads the catalog file into a scratch lake (`catalogs.<name>`, timed apart),
then times the join: read both sides, explode each position to its 3x3 HEALPix block, join on the
pixel, exact separations, nearest per position, results collected as Arrow. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_VSX = Path(__file__).resolve().parents[2].parent / "shared/data/catalogs/fink-science/vsx.parquet"


def random_positions(n: int, seed: int = 1) -> pa.Table:
    """N positions uniform on the sphere, shaped like the cross-match's input rows."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "survey": pa.array(["ztf"] * n),
            "candid": pa.array(np.arange(n, dtype=np.int64)),
            "objectId": pa.array([None] * n, pa.string()),
            "ra": rng.uniform(0.0, 360.0, n),
            "dec": np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n))),
            "night": pa.array(np.full(n, 20260101, dtype=np.int32)),
        }
    )


def run_xmatch_benchmark(
    *, positions: int, catalog: Path, name: str, radius: float, nearest: bool, work: Path
) -> dict[str, Any]:
    """Load the catalog, then time the cross-match of `positions` random positions against it."""
    from siskin.config import Settings
    from siskin.lake.engine import get_engine
    from siskin.science.xmatch.catalogs import load_catalog
    from siskin.science.xmatch.join import crossmatch
    from siskin.spark.session import build_spark

    settings = Settings(lake=str(work / "lake"))
    t0 = time.monotonic()
    loaded = load_catalog(settings, catalog, name)
    load_s = time.monotonic() - t0
    pq.write_table(random_positions(positions), work / "positions.parquet")
    t0 = time.monotonic()
    spark = build_spark(settings)
    spark.range(1).count()
    startup_s = time.monotonic() - t0
    t0 = time.monotonic()
    pos = spark.read.parquet(str(work / "positions.parquet"))
    cat = get_engine(settings.delta.engine).read(spark, loaded.uri)
    result = crossmatch(pos, cat, name=name, radius_arcsec=radius, nearest=nearest).toArrow()
    join_s = time.monotonic() - t0
    return {
        "positions": positions,
        "catalog": name,
        "catalog_rows": loaded.rows,
        "radius_arcsec": radius,
        "nearest": nearest,
        "matches": result.num_rows,
        "catalog_load_s": round(load_s, 2),
        "spark_startup_s": round(startup_s, 2),
        "xmatch_wall_s": round(join_s, 2),
        "positions_per_s": round(positions / join_s),
        "spark_master": settings.spark.master,
        "shuffle_partitions": settings.spark.shuffle_partitions,
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(prog="python -m siskin.bench.xmatch", description=__doc__)
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--catalog", type=Path, default=DEFAULT_VSX, help="catalog file (default: VSX)")
    parser.add_argument("--name", default="vsx")
    parser.add_argument("--radius", type=float, default=1.5, help="arcsec")
    parser.add_argument("--all", action="store_true", help="every match, not only the nearest")
    parser.add_argument("--work-dir", type=Path, help="scratch folder (default: a temporary one, deleted)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="siskin-bench-xmatch-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run_xmatch_benchmark(
            positions=args.positions,
            catalog=args.catalog,
            name=args.name,
            radius=args.radius,
            nearest=not args.all,
            work=work,
        )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
