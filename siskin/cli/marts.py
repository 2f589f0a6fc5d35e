"""`siskin marts build | sources`: the dbt marts (models/) built through the SQL endpoint into lake/gold."""

from __future__ import annotations

import argparse


def cmd_marts_build(args: argparse.Namespace) -> int:
    """Build and test the marts with dbt, publish them as Delta tables in gold; print one JSON line."""
    from siskin.cli.main import _settings
    from siskin.marts import build

    result = build(_settings(args), args.night, docs=not args.no_docs)
    print(result.to_json())
    return 0


def cmd_marts_sources(args: argparse.Namespace) -> int:
    """Regenerate models/staging/_sources.yml from the table catalog."""
    from siskin.marts.sources import write_sources

    print(f"wrote {write_sources()}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `siskin marts build` and `siskin marts sources`."""
    marts = sub.add_parser("marts", help="dbt marts on the lake (models/)").add_subparsers(
        dest="marts", required=True
    )
    p = marts.add_parser("build", help="dbt build through the SQL endpoint, then publish marts to lake/gold")
    p.add_argument("--night", type=int, help="YYYYMMDD: recompute only that night of nightly_summary")
    p.add_argument("--no-docs", action="store_true", help="skip dbt docs generate")
    p.set_defaults(func=cmd_marts_build)
    p = marts.add_parser("sources", help="regenerate the dbt sources file from the table catalog")
    p.set_defaults(func=cmd_marts_sources)
