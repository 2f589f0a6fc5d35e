"""`python -m siskin.bench.stream_cpu`: CPU per alert of the streaming path's Python work, without Spark.

What the end-to-end latency is made of, part by part, on a shared host where only CPU time compares:
simulated ZTF alerts (the night `siskin bench latency` publishes) become bronze rows as the bronze stage
stores them, go through the silver transform (`decode_bronze`: decode, quality flags, every enabled
science module) in consecutive micro-batches of one process, as a Spark Python worker sees them (so the
per-process caches behave as there), then the distribution stage's per-batch work for a pass-all filter
(conform, Avro encoding, Confluent framing). Prints one JSON object: CPU ms per alert of each part and
per science module. Kafka produce, Parquet writes and Delta commits are not included.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from siskin.config import Settings


def bronze_rows(payloads: list[bytes], settings: Settings) -> pa.Table:
    """Bronze rows of `payloads`, as the bronze stage makes them from Kafka messages."""
    from siskin.bronze.transform import kafka_received_arrow, to_bronze_table

    n = len(payloads)
    messages = pa.table(
        {
            "value": pa.array(payloads, pa.binary()),
            "topic": pa.array(["ztf-alerts"] * n),
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(np.arange(n), pa.int64()),
            "timestamp": pa.array([1_795_000_000_000] * n, pa.int64()),
            "sent_ns": pa.array(np.arange(n), pa.int64()),
        }
    )
    return to_bronze_table(kafka_received_arrow(messages), settings.decode)


def _timed(spent: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - start

    return run


def measure(n_alerts: int = 6000, batch: int = 2000, night: int = 20261121, seed: int = 11) -> dict[str, Any]:
    """CPU ms per alert of the silver transform (per module) and of the distribution's encoding."""
    import siskin.alerts.decoder as decoder
    from siskin.bench.latency import PassAll
    from siskin.lake.catalog import table
    from siskin.science.enrich import enabled_modules
    from siskin.silver.transform import decode_bronze
    from siskin.simulate.ztf import simulate_night
    from siskin.streams.avro import confluent_frame
    from siskin.streams.avro_columnar import encode_table
    from siskin.streams.distribute import conform
    from siskin.streams.tables import filter_table_name, register_filter_table

    payloads = list(simulate_night(night, n_alerts=n_alerts, seed=seed))
    settings = Settings().model_copy(update={"lake": tempfile.mkdtemp(prefix="siskin-stream-cpu-")})
    batches = [bronze_rows(payloads[lo : lo + batch], settings) for lo in range(0, n_alerts, batch)]
    decode_bronze(batches[0].slice(0, 20), settings)  # modules built, models loaded (once per worker)
    spent: dict[str, float] = defaultdict(float)
    modules = enabled_modules(settings, "ztf")
    for module in modules:  # timed on the instances the silver transform uses (cached per process)
        module.compute = _timed(spent, f"module {module.name}", module.compute)  # type: ignore[method-assign]
    original = decoder.decode_payloads
    decoder.decode_payloads = _timed(spent, "decode_payloads", original)
    silver: list[pa.Table] = []
    try:
        start = time.process_time()
        for rows in batches:
            silver.append(decode_bronze(rows, settings)["silver.alerts"])
        spent["silver_total"] = time.process_time() - start
    finally:
        decoder.decode_payloads = original
        for module in modules:
            del module.compute  # the class's method again
    bench = PassAll()
    register_filter_table(bench.name, bench.survey, bench.description)
    schema = table(filter_table_name(bench.name)).arrow_schema()
    start = time.process_time()
    for alerts in silver:
        passed = alerts.filter(bench.mask(alerts))
        version = pa.repeat(pa.scalar(str(bench.version)), passed.num_rows)
        rows = conform(passed.append_column("filter_version", version), schema)
        with_encoding = time.process_time()
        bodies = encode_table(rows)
        spent["distribute encode_table"] += time.process_time() - with_encoding
        [confluent_frame(1, body) for body in bodies]
    spent["distribute_total"] = time.process_time() - start
    science = sum(v for k, v in spent.items() if k.startswith("module "))
    spent["silver rest (flags, conform, provenance)"] = (
        spent["silver_total"] - spent["decode_payloads"] - science
    )
    return {
        "alerts": n_alerts,
        "batch": batch,
        "cpu_ms_per_alert": _per_alert(spent, n_alerts),
    }


def _per_alert(spent: Mapping[str, float], n: int) -> dict[str, float]:
    ordered = sorted(spent.items(), key=lambda kv: -kv[1])
    return {name: round(seconds * 1e3 / max(n, 1), 4) for name, seconds in ordered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m siskin.bench.stream_cpu", description=__doc__)
    parser.add_argument("--alerts", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    # Spark starts its Python workers with OMP_NUM_THREADS=1: one BLAS thread, as the stream runs
    # (two OpenBLAS threads handing tiny arrays back and forth cost several times the work itself)
    with threadpool_limits(limits=1):
        print(json.dumps(measure(args.alerts, args.batch), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
