"""`siskin`: the command line over the library (each command is a few calls into `siskin.*`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from siskin.config import Settings, load_settings
from siskin.errors import SiskinError


def _settings(args: argparse.Namespace) -> Settings:
    if args.config:
        os.environ["SISKIN_CONFIG"] = str(args.config)
    overrides = {}
    if args.lake:
        overrides["lake"] = args.lake
    return load_settings(**overrides)


def _non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a usage error otherwise, never a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _quiet_spark_shutdown_noise() -> None:
    """Stopping a query mid-batch makes py4j/Spark log interruption errors users need not see."""
    for name in ("py4j", "py4j.clientserver", "py4j.java_gateway"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _run_until_interrupted(queries: list, say=print) -> None:  # noqa: ANN001
    """Block on running queries; Ctrl-C / SIGTERM stops them cleanly (checkpoints keep the position)."""
    from siskin.pipeline.progress import stop_all

    stopping = {"flag": False}

    def handler(signum: int, frame: object) -> None:
        stopping["flag"] = True

    # PySpark's own SIGINT handler cancels jobs through py4j in the middle of a call and spills
    # tracebacks; here Ctrl-C and SIGTERM only ask the loop below to stop the queries cleanly.
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        while not stopping["flag"]:
            for q in queries:
                if not q.isActive:
                    exc = q.exception()
                    raise SiskinError(f"query {q.name} stopped: {exc}" if exc else f"query {q.name} stopped")
            queries[0].awaitTermination(1.0)
    except KeyboardInterrupt:
        pass
    say("stopping streaming queries (restart resumes from the checkpoints)...")
    stop_all(queries)


def cmd_demo(args: argparse.Namespace) -> int:
    from siskin.pipeline.demo import run_demo
    from siskin.query.summary import format_summary

    settings = _settings(args)
    result = run_demo(settings, alerts=args.alerts, rate=args.rate, night=args.night)
    print(
        f"\nnight {result.night}: published {result.published} alerts, all layers up to date "
        f"after {result.seconds:.1f} s\n"
    )
    print(format_summary(result.summary, settings.lake_uri))
    if result.science is not None:
        from siskin.query.science_summary import format_science_summary

        print("\n" + format_science_summary(result.science))
    if result.watch_command:
        print("\n" + result.watch_command)
        print("  (or fink-client's AlertConsumer: Siskin's topics are fink-compatible by default)")
    if args.no_nightly:
        print(f"\nnightly DAG skipped (--no-nightly): siskin airflow test nightly --night {result.night}")
        return 0
    from siskin.pipeline.demo import format_nightly, run_nightly

    print("", flush=True)
    # a failed task raises SiskinError naming it: one line on stderr, non-zero exit
    nightly = run_nightly(result.settings or settings, result.night)
    print("\n" + format_nightly(nightly, result.settings or settings))
    return 0


def cmd_ingest_kafka(args: argparse.Namespace) -> int:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.query.summary import format_summary, summarize

    settings = _settings(args)
    house = Lakehouse(settings)
    house.ensure_tables()
    bronze = house.start_bronze_kafka(
        available_now=args.available_now,
        bootstrap=args.bootstrap,
        topics=args.topic or None,
        pattern=args.pattern,
        starting_offsets=args.starting_offsets,
    )
    if args.available_now:
        bronze.awaitTermination()
        house.run_downstream_available_now()
        print(format_summary(summarize(settings), settings.lake_uri))
        return 0
    queries = [bronze, house.start_silver(), house.start_gold()]
    if settings.streams.enabled:
        queries.append(house.start_distribute())
    print(
        f"ingesting from {args.bootstrap or settings.kafka.bootstrap} into {settings.lake_uri}; Ctrl-C stops"
    )
    _run_until_interrupted(queries)
    return 0


def cmd_ingest_files(args: argparse.Namespace) -> int:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.query.summary import format_summary, summarize

    settings = _settings(args)
    house = Lakehouse(settings)
    house.ensure_tables()
    bronze = house.start_bronze_files([str(p) for p in args.paths], available_now=not args.watch)
    if not args.watch:
        bronze.awaitTermination()
        house.run_downstream_available_now()
        print(format_summary(summarize(settings), settings.lake_uri))
        return 0
    print(f"watching {', '.join(map(str, args.paths))}; Ctrl-C stops")
    _run_until_interrupted([bronze, house.start_silver(), house.start_gold()])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """One streaming stage in the foreground: what each job container of a cluster runs."""
    from collections.abc import Callable

    from pyspark.sql.streaming import StreamingQuery

    from siskin.pipeline.lakehouse import Lakehouse

    settings = _settings(args)
    house = Lakehouse(settings)
    house.ensure_tables()
    starters: dict[str, Callable[[], StreamingQuery]] = {
        "bronze-kafka": lambda: house.start_bronze_kafka(),
        "bronze-files": lambda: house.start_bronze_files([str(p) for p in args.paths]),
        "silver": lambda: house.start_silver(),
        "gold": lambda: house.start_gold(),
        "distribute": lambda: house.start_distribute(),
    }
    if args.stage == "bronze-files" and not args.paths:
        raise SiskinError("bronze-files needs the landing paths to watch")
    print(f"{args.stage}: streaming into {settings.lake_uri}; Ctrl-C stops")
    _run_until_interrupted([starters[args.stage]()])
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from siskin.ops.replay import replay_night
    from siskin.pipeline.lakehouse import Lakehouse

    house = Lakehouse(_settings(args))
    report = replay_night(house, args.night)
    house.release()
    print(
        f"night {report.night}: {report.bronze_rows} bronze payloads re-decoded; "
        f"silver {report.silver_before} -> {report.silver_after} alerts, {report.rejects_after} rejects; "
        f"{report.objects_rebuilt} gold objects rebuilt, {report.class_changes} class changes recorded"
        + (" (resumed an unfinished replay)" if report.resumed else "")
    )
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """A query over the lake: a preview table, or the whole result as CSV / JSON lines (to `--out` or
    standard output) or Parquet (to `--out`)."""
    from siskin.lake.catalog import names
    from siskin.lake.engine import get_engine
    from siskin.query.export import check_output, export, format_table
    from siskin.query.sql import query_errors, run_sql, silence_query_error_logs
    from siskin.spark.session import build_spark

    check_output(args.format, args.out)
    settings = _settings(args)
    if _sql_via_endpoint(settings, args):
        return 0
    spark = build_spark(settings)
    if not args.verbose:
        silence_query_error_logs()
    df = run_sql(spark, get_engine(settings.delta.engine), settings.lake_uri, args.query)
    with query_errors(list(names())):
        if args.format == "table":
            print(format_table(df, args.limit))
            return 0
        rows = export(df, args.format, args.out)
    if args.out is not None:
        print(f"wrote {rows} rows to {args.out}")
    return 0


def _sql_via_endpoint(settings: Settings, args: argparse.Namespace) -> bool:
    """Answer `siskin sql` with DuckDB (`--engine duckdb`) or through the running SQL endpoint (`siskin serve
    sql`); False when neither applies (the local Spark session answers)."""
    from siskin.query.endpoint import running
    from siskin.query.remote import export_arrow, format_arrow, run_remote

    if getattr(args, "engine", "spark") == "duckdb":
        from siskin.query.duck import run_duckdb

        table = run_duckdb(settings.lake_uri, args.query)
    else:
        endpoint = running(settings)
        if endpoint is None or os.environ.get("SISKIN_SQL_LOCAL"):
            return False
        table = run_remote(settings, endpoint, args.query)
    if args.format == "table":
        print(format_arrow(table, args.limit))
        return True
    rows = export_arrow(table, args.format, args.out)
    if args.out is not None:
        print(f"wrote {rows} rows to {args.out}")
    return True


def cmd_status(args: argparse.Namespace) -> int:
    from siskin.query.status import bronze_lags, format_status, kafka_gaps, lake_status

    settings = _settings(args)
    print(f"Lake: {settings.lake_uri}")
    print(format_status(lake_status(settings), bronze_lags(settings), kafka_gaps(settings)))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from siskin.simulate.run import parse_rate, write_tarball, write_to_dir
    from siskin.simulate.ztf import simulate_night

    settings = _settings(args)
    payloads = simulate_night(args.night, n_alerts=args.alerts, seed=args.seed)
    if args.to == "kafka":
        from siskin.sources.kafka_publish import publish
        from siskin.sources.kafka_security import client_config

        stats = publish(
            payloads,
            args.topic,
            args.bootstrap or settings.kafka.bootstrap,
            rate_per_s=parse_rate(args.rate) if args.rate else None,
            client_conf=client_config(settings.kafka, args.bootstrap),  # SASL/SSL, secrets from env or file
        )
        print(
            json.dumps(
                {
                    "published": stats.messages,
                    "bytes": stats.bytes,
                    "seconds": round(stats.seconds, 2),
                    "alerts_per_s": round(stats.rate_per_s, 1),
                }
            )
        )
    elif args.tarball:
        path = Path(args.out) / f"ztf_public_{args.night}.tar.gz"
        print(json.dumps({"written": write_tarball(payloads, path, night=args.night), "path": str(path)}))
    else:
        print(
            json.dumps({"written": write_to_dir(payloads, Path(args.out), night=args.night), "dir": args.out})
        )
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from siskin.broker.tansu import EmbeddedBroker

    work = Path(args.work_dir)
    with EmbeddedBroker(work, port=args.port) as broker:
        for topic in args.topic:
            broker.create_topic(topic, args.partitions)
        print(
            f"embedded broker on {broker.bootstrap} (topics: {', '.join(args.topic) or 'none'}); Ctrl-C stops"
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_bench_ingest(args: argparse.Namespace) -> int:
    from siskin.bench.ingest import run_ingest_benchmark

    result = run_ingest_benchmark(
        _settings(args),
        alerts=args.alerts,
        rate=args.rate,
        duration_s=args.duration,
        partitions=args.partitions,
    )
    print(json.dumps(result))
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    """Compact, order and VACUUM lake tables; prints one JSON line per table."""
    from siskin.lake.maintain import maintain

    reports = maintain(
        _settings(args),
        names=args.table or None,
        night=args.night,
        do_vacuum=not args.no_vacuum,
        retention_hours=args.retention_hours,
        force=args.force,
    )
    for report in reports:
        print(json.dumps(report.to_json()))
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    from siskin.bench.scale import iter_sizes, run_scale_benchmark

    result = run_scale_benchmark(
        _settings(args),
        sizes=list(iter_sizes(args.objects)),
        alerts=args.alerts,
        batches=args.batches,
        versions=args.versions,
        work_dir=args.work_dir,
        keep=args.keep,
        say=lambda text: print(text, file=sys.stderr),
    )
    print(json.dumps(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siskin", description="Siskin alert broker: a streaming Delta lakehouse"
    )
    parser.add_argument("--lake", help="lake root (default: SISKIN_LAKE or lake/)")
    parser.add_argument(
        "--config", type=Path, help="TOML settings file (default: SISKIN_CONFIG or siskin.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "demo", help="embedded broker + simulated night through bronze, silver and gold, then its nightly DAG"
    )
    p.add_argument("--alerts", type=int, default=3000)
    p.add_argument("--rate", type=float, default=500.0, help="alerts per second published")
    p.add_argument("--night", type=int, help="YYYYMMDD (default: the night after the lake's last)")
    p.add_argument(
        "--no-nightly",
        action="store_true",
        help="stop once the layers are up to date (skip the nightly DAG: maintain, xmatch, dbt, quality...)",
    )
    p.set_defaults(func=cmd_demo)

    ingest = sub.add_parser("ingest", help="ingest alerts into the lake").add_subparsers(
        dest="source", required=True
    )
    p = ingest.add_parser(
        "kafka", help="long-running streaming ingest from Kafka (Ctrl-C stops, restart resumes)"
    )
    p.add_argument("--topic", action="append", help="topic (repeatable; default from settings)")
    p.add_argument("--pattern", help="topic regex instead of --topic")
    p.add_argument("--bootstrap", help="bootstrap servers (default from settings)")
    p.add_argument("--starting-offsets", default=None, help="earliest | latest | JSON")
    p.add_argument("--available-now", action="store_true", help="ingest what is there now, then stop")
    p.set_defaults(func=cmd_ingest_kafka)
    p = ingest.add_parser("files", help="Avro files, directories or .tar.gz nights")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--watch", action="store_true", help="keep watching the paths as a landing directory")
    p.set_defaults(func=cmd_ingest_files)

    p = sub.add_parser(
        "run", help="run one streaming stage in the foreground (one per container on a cluster)"
    )
    p.add_argument("stage", choices=["bronze-kafka", "bronze-files", "silver", "gold", "distribute"])
    p.add_argument("paths", nargs="*", type=Path, help="landing paths for bronze-files")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("replay", help="rebuild silver and gold of one night from bronze")
    p.add_argument("--night", type=int, required=True)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "sql", help="SQL over the lake tables (bronze.alerts, silver.alerts, gold.objects, ...)"
    )
    p.add_argument("query")
    p.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help="table: a preview of --limit rows; csv, json (lines): the whole result to --out or "
        "standard output; parquet: the whole result to --out",
    )
    p.add_argument("--out", type=Path, help="file to write (csv, json, parquet)")
    p.add_argument("--limit", type=_non_negative_int, default=50, help="rows printed for --format table")
    p.add_argument(
        "--engine",
        choices=["spark", "duckdb"],
        default="spark",
        help="spark (Spark SQL: the SQL endpoint when running, else a local session) or duckdb (DuckDB SQL, "
        "no JVM)",
    )
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("status", help="per table: version, rows, last commit, last batch, lag")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("simulate", help="realistic ZTF 4.02 alerts to Kafka or a directory")
    p.add_argument("--night", type=int, required=True)
    p.add_argument("--alerts", type=int, default=1000)
    p.add_argument("--rate", default=None, help="e.g. 250/s (Kafka only)")
    p.add_argument("--to", choices=["kafka", "dir"], default="dir")
    p.add_argument("--out", default="alerts", help="directory for --to dir")
    p.add_argument("--tarball", action="store_true", help="write ztf_public_YYYYMMDD.tar.gz instead of files")
    p.add_argument("--topic", default="ztf-alerts")
    p.add_argument("--bootstrap")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (tansu) in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--topic", action="append", default=[])
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--work-dir", default=".siskin/broker")
    p.set_defaults(func=cmd_broker)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("ingest", help="sustained alerts/s Kafka -> silver and publish-to-silver latency")
    p.add_argument("--alerts", type=int, help="alerts to publish (default: 6 micro-batches' worth)")
    p.add_argument("--rate", type=float, default=0.0, help="publish rate, alerts/s (0: as fast as possible)")
    p.add_argument("--duration", type=float, default=0.0, help="publish for this many seconds instead")
    p.add_argument("--partitions", type=int, default=4)
    p.set_defaults(func=cmd_bench_ingest)
    p = bench.add_parser("scale", help="gold and silver micro-batch seconds on lakes pre-filled to N objects")
    p.add_argument("--objects", default="10k,1M,10M", help="pre-filled sizes, e.g. 10k,1M,10M")
    p.add_argument("--alerts", type=int, default=10000, help="alerts per micro-batch")
    p.add_argument("--batches", type=int, default=5, help="timed micro-batches per size and layer")
    p.add_argument(
        "--versions", type=int, default=10000, help="table versions for the metadata costs (0: skip)"
    )
    p.add_argument("--work-dir", type=Path, help="scratch folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch lakes")
    p.set_defaults(func=cmd_bench_scale)

    p = sub.add_parser("maintain", help="compact and order small files, VACUUM, checkpoint the logs")
    p.add_argument("--table", action="append", help="table to maintain (repeatable; default: all)")
    p.add_argument("--night", type=int, help="only this night of night-partitioned tables (YYYYMMDD)")
    p.add_argument(
        "--retention-hours", type=float, help="VACUUM retention (default: maintain.retention_hours)"
    )
    p.add_argument("--no-vacuum", action="store_true", help="compact only")
    p.add_argument(
        "--force", action="store_true", help="allow a retention below maintain.min_retention_hours"
    )
    p.set_defaults(func=cmd_maintain)
    _add_command_modules(sub)
    return parser


def _add_command_modules(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Commands living in their own module: every `siskin.cli.<name>` with an `add_commands(sub)`."""
    import importlib
    import pkgutil

    import siskin.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in ("main", "__main__"):
            continue
        module = importlib.import_module(f"siskin.cli.{info.name}")
        add = getattr(module, "add_commands", None)
        if callable(add):
            add(sub)


def _fail(message: str, verbose: bool) -> None:
    """A user-facing error: one line on stderr (the whole message and traceback with -v)."""
    lines = [line for line in message.strip().splitlines() if line.strip()] or ["unknown error"]
    if verbose:
        import traceback

        traceback.print_exc()
        print(f"siskin: error: {message.strip()}", file=sys.stderr)
        return
    more = " (run with -v for details)" if len(lines) > 1 else ""
    print(f"siskin: error: {lines[0].strip()}{more}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The `siskin` command: its exit status (0 only when the command's work succeeded).

    Errors a user can act on (SiskinError: bad settings, a bad query, a held lease...) print one line
    on stderr and exit 2; usage errors exit 2 from argparse; anything else is a bug and shows its traceback.
    Called without `argv` (the `siskin` script, `python -m siskin.cli.main`) it is the process's entry
    point and ends the process with that status (`run_process`); with `argv` (tests) it returns the
    status and leaves the process, and its Spark session, running.
    """
    if argv is None:
        run_process()
    return run_command(argv)


def run_process(argv: list[str] | None = None) -> NoReturn:
    """Run the command as this process's whole job, then end the process with its status, in order.

    For entry points (`siskin`, `jobs/*.py`): see `siskin.cli.process_exit` for why the process does
    not leave its end to the interpreter's teardown.
    """
    from siskin.cli.process_exit import end_process

    try:
        status = run_command(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException:  # a bug: its traceback, then the same orderly end
        import traceback

        traceback.print_exc()
        status = 1
    end_process(status)


def run_command(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the command, and turn user errors into one line and a status."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _quiet_spark_shutdown_noise()
    try:
        return int(args.func(args) or 0)
    except SiskinError as exc:
        _fail(str(exc), args.verbose)
        return 2
    except KeyboardInterrupt:
        print("siskin: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`siskin sql ... | head`): stop quietly, as a SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
