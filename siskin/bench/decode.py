"""`python -m siskin.bench.decode`: alerts/s of `decode_payloads` on real (or given) Avro alert files.

The files are read once and repeated to fill batches like a micro-batch of the silver stream; the
first (warm-up) pass, which compiles each writer schema's framer, is not timed. Prints one JSON object:
alerts/s of wall time and per CPU-second (all threads, i.e. per core), and the mean bytes per alert.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from siskin.config import DecodeSettings

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ztf" / "alerts"


def alert_files(paths: list[str]) -> list[Path]:
    """Avro files named directly or found under the given folders."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        found.extend(sorted(path.rglob("*.avro")) if path.is_dir() else [path])
    return found


def run_decode_benchmark(
    payloads: list[bytes], *, batch: int = 2000, seconds: float = 10.0
) -> dict[str, Any]:
    """Decode batches of `batch` payloads (cycling through `payloads`) for about `seconds`."""
    from siskin.alerts.decoder import decode_payloads

    settings = DecodeSettings()
    reps = -(-batch // len(payloads))
    array = pa.array((payloads * reps)[:batch], pa.binary())
    warm = decode_payloads(array, settings)
    alerts = rejects = 0
    elapsed = cpu = 0.0
    while elapsed < seconds or alerts == 0:
        t0, c0 = time.perf_counter(), time.process_time()
        result = decode_payloads(array, settings)
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        alerts += result.alerts.num_rows
        rejects += result.rejects.num_rows
    return {
        "alerts": alerts,
        "rejects": rejects,
        "alerts_per_s": round(alerts / elapsed, 1),
        "alerts_per_cpu_s": round(alerts / max(cpu, 1e-9), 1),
        "bytes_mean": round(sum(len(p) for p in array.to_pylist()) / max(1, warm.alerts.num_rows)),
        "batch_payloads": batch,
        "seconds": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    default = os.environ.get("SISKIN_SHARED_DATA")
    default_dir = str(Path(default) / "ztf" / "alerts") if default else str(DEFAULT_DATA)
    parser.add_argument("paths", nargs="*", default=[default_dir], help="Avro files or folders")
    parser.add_argument("--batch", type=int, default=2000, help="payloads per decode call")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed decode time")
    args = parser.parse_args(argv)
    files = alert_files(args.paths)
    if not files:
        parser.error(f"no .avro files under {', '.join(args.paths)}")
    payloads = [f.read_bytes() for f in files]
    print(json.dumps(run_decode_benchmark(payloads, batch=args.batch, seconds=args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
