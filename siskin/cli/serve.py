"""`siskin serve sql`: the warm SQL endpoint (Spark Thrift Server) over the lake's tables."""

from __future__ import annotations

import argparse


def cmd_serve_sql(args: argparse.Namespace) -> int:
    """Serve the lake over JDBC/ODBC (HiveServer2 protocol) until Ctrl-C / SIGTERM."""
    from siskin.cli.main import _settings
    from siskin.query.endpoint import serve

    settings = _settings(args)
    if args.host:
        settings = settings.model_copy(
            update={"sql_endpoint": settings.sql_endpoint.model_copy(update={"host": args.host})}
        )
    return serve(settings, port=args.port)


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `siskin serve sql`."""
    serve = sub.add_parser("serve", help="long-running services over the lake").add_subparsers(
        dest="service", required=True
    )
    p = serve.add_parser(
        "sql", help="Spark Thrift Server (JDBC/ODBC, PyHive, dbt thrift) over every lake table"
    )
    p.add_argument("--port", type=int, help="port (default: sql_endpoint.port, 10000)")
    p.add_argument("--host", help="bind address (default: sql_endpoint.host, 127.0.0.1)")
    p.set_defaults(func=cmd_serve_sql)
    if "bench" in sub.choices:
        from siskin.bench.sql import add_bench_command

        add_bench_command(sub)
