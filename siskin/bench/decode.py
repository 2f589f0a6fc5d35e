"""`python -m siskin.bench.decode`: alerts/s of `decode_payloads` on real (or given) Avro alert files.

The files are read once and repeated to fill batches like a micro-batch of the silver stream; the
first (warm-up) pass, which compiles each writer schema's framer, is not timed. `--simulated N`
uses N simulated ZTF 4.02 alerts instead (what `siskin bench ingest` publishes). Prints one JSON
object: alerts/s of wall time and per CPU-second (all threads, i.e. per core), the mean bytes per
alert, and the same for the bronze peek (`peek_payloads`) of those payloads.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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
    from siskin.alerts.decoder import decode_payloads, peek_payloads

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
    peek_payloads(array, settings)
    peeked = 0
    peek_elapsed = peek_cpu = 0.0
    while peek_elapsed < seconds / 5 or peeked == 0:
        t0, c0 = time.perf_counter(), time.process_time()
        peeked += peek_payloads(array, settings).num_rows
        peek_elapsed += time.perf_counter() - t0
        peek_cpu += time.process_time() - c0
    return {
        "alerts": alerts,
        "rejects": rejects,
        "alerts_per_s": round(alerts / elapsed, 1),
        "alerts_per_cpu_s": round(alerts / max(cpu, 1e-9), 1),
        "bytes_mean": round(pc.sum(pc.binary_length(array)).as_py() / max(1, warm.alerts.num_rows)),
        "batch_payloads": batch,
        "seconds": round(elapsed, 2),
        "peek_payloads_per_s": round(peeked / peek_elapsed, 1),
        "peek_payloads_per_cpu_s": round(peeked / max(peek_cpu, 1e-9), 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    default = os.environ.get("SISKIN_SHARED_DATA")
    default_dir = str(Path(default) / "ztf" / "alerts") if default else str(DEFAULT_DATA)
    parser.add_argument("paths", nargs="*", default=[default_dir], help="Avro files or folders")
    parser.add_argument("--batch", type=int, default=2000, help="payloads per decode call")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed decode time")
    parser.add_argument(
        "--simulated", type=int, metavar="N", help="N simulated ZTF 4.02 alerts instead of files"
    )
    args = parser.parse_args(argv)
    if args.simulated:
        from siskin.simulate.ztf import simulate_night

        payloads = list(simulate_night(20261121, n_alerts=args.simulated, seed=7))
    else:
        files = alert_files(args.paths)
        if not files:
            parser.error(f"no .avro files under {', '.join(args.paths)}")
        payloads = [f.read_bytes() for f in files]
    print(json.dumps(run_decode_benchmark(payloads, batch=args.batch, seconds=args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
