"""`siskin streams list|watch` (the filtered topics) and `siskin bench latency` (publish -> filter topic)."""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_FIELDS = "objectId,candid,jd,fid,magpsf,ra,dec"


def _settings(args: argparse.Namespace) -> Any:
    from siskin.cli.main import _settings as settings_from_args

    return settings_from_args(args)


def cmd_streams_list(args: argparse.Namespace) -> int:
    from siskin.streams.watch import topic_counts

    rows = topic_counts(_settings(args))
    if not rows:
        print("no filters enabled (streams.filters)")
        return 0
    print(f"{'filter':<24} {'topic':<36} {'messages':>9}  table")
    for r in rows:
        count = "-" if r.messages is None else str(r.messages)
        print(f"{r.filter:<24} {r.topic:<36} {count:>9}  {r.table}")
    return 0


def cmd_streams_watch(args: argparse.Namespace) -> int:
    from siskin.streams.watch import watch

    fields = [f for f in args.fields.split(",") if f] if args.fields != "all" else None
    for alert in watch(
        _settings(args),
        args.topic,
        from_beginning=not args.latest,
        max_messages=args.max,
        idle_timeout_s=args.idle_timeout,
    ):
        shown = alert if fields is None else {k: alert.get(k) for k in fields}
        print(json.dumps(shown, default=str), flush=True)
    return 0


def cmd_bench_latency(args: argparse.Namespace) -> int:
    from siskin.bench.latency import run_latency_benchmark

    result = run_latency_benchmark(
        _settings(args),
        rate=args.rate,
        duration_s=args.duration,
        partitions=args.partitions,
        warmup_alerts=args.warmup_alerts,
    )
    print(json.dumps(result))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `streams` and, under the existing `bench` parser, `latency`."""
    streams = sub.add_parser("streams", help="the filtered Kafka topics (one per filter)").add_subparsers(
        dest="streams", required=True
    )
    p = streams.add_parser("list", help="each enabled filter's topic with its message count, and its table")
    p.set_defaults(func=cmd_streams_list)
    p = streams.add_parser("watch", help="print a filter topic's alerts as JSON lines (Ctrl-C stops)")
    p.add_argument("topic")
    p.add_argument("--fields", default=DEFAULT_FIELDS, help="comma-separated fields, or 'all'")
    p.add_argument("--latest", action="store_true", help="only alerts arriving from now on")
    p.add_argument("--max", type=int, default=None, help="stop after this many alerts")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    p.set_defaults(func=cmd_streams_watch)

    bench_parser = sub.choices.get("bench")
    if bench_parser is None:
        return
    bench = next(a for a in bench_parser._actions if isinstance(a, argparse._SubParsersAction))
    p = bench.add_parser("latency", help="publish -> same alert on a filter topic, p50/p99 (embedded broker)")
    p.add_argument("--rate", type=float, default=250.0, help="publish rate, alerts/s")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of publishing")
    p.add_argument("--partitions", type=int, default=4, help="input topic partitions")
    p.add_argument(
        "--warmup-alerts",
        type=int,
        default=1000,
        help="alerts sent through the whole path (and awaited) before the measured ones (0: a cold start)",
    )
    p.set_defaults(func=cmd_bench_latency)
