"""`siskin catalogs load|list` and `siskin xmatch`: catalogs into the lake, alerts matched to them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _settings(args: argparse.Namespace) -> Any:
    from siskin.cli.main import _settings as settings_from_args

    return settings_from_args(args)


def cmd_catalogs_load(args: argparse.Namespace) -> int:
    from siskin.science.xmatch.catalogs import load_catalog

    loaded = load_catalog(
        _settings(args),
        args.path,
        args.name,
        ra=args.ra,
        dec=args.dec,
        id=args.id,
        type=args.type,
        unit=args.unit,
        table=args.table,
    )
    prov = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in loaded.provenance.items()}
    print(json.dumps(prov))
    return 0


def cmd_catalogs_list(args: argparse.Namespace) -> int:
    from siskin.science.xmatch.catalogs import list_catalogs

    rows = list_catalogs(_settings(args)).to_pylist()
    if not rows:
        print("no catalogs loaded; `siskin catalogs load PATH --name NAME`")
        return 0
    print(f"{'name':<12} {'rows':>9} {'dropped':>7} {'format':<8} {'loaded (UTC)':<19} sha256[:12]  source")
    for r in rows:
        when = r["load_time"].strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{r['name']:<12} {r['rows']:>9} {r['rows_dropped']:>7} {r['format']:<8} {when:<19} "
            f"{r['sha256'][:12]} {r['source_file']}"
        )
    return 0


def cmd_xmatch(args: argparse.Namespace) -> int:
    from siskin.science.xmatch.join import run_xmatch

    nearest = None if args.all is None else not args.all
    run = run_xmatch(
        _settings(args),
        args.catalog,
        radius_arcsec=args.radius,
        night=args.night,
        surveys=[args.survey] if args.survey else None,
        nearest=nearest,
    )
    print(json.dumps(run.__dict__))
    return 0


def cmd_bench_xmatch(args: argparse.Namespace) -> int:
    from siskin.bench.xmatch import main as bench_main

    argv = ["--positions", str(args.positions), "--radius", str(args.radius), "--name", args.name]
    argv += ["--catalog", str(args.catalog)] if args.catalog else []
    argv += ["--all"] if args.all else []
    argv += ["--work-dir", str(args.work_dir)] if args.work_dir else []
    return bench_main(argv)


def _bench_subparsers(sub: Any) -> Any:
    """The `siskin bench` subcommands, when `bench` is registered (it is declared in main.py)."""
    bench = sub.choices.get("bench")
    actions = [a for a in getattr(bench, "_actions", []) if isinstance(a, argparse._SubParsersAction)]
    return actions[0] if actions else None


def add_commands(sub: Any) -> None:
    """Register `catalogs`, `xmatch` and `bench xmatch` on the `siskin` command's subparsers."""
    catalogs = sub.add_parser("catalogs", help="reference catalogs in the lake").add_subparsers(
        dest="catalogs", required=True
    )
    p = catalogs.add_parser("load", help="load a catalog file (Parquet, CSV, FITS, SQLite) as catalogs.NAME")
    p.add_argument("path", type=Path)
    p.add_argument("--name", required=True, help="catalog name (lower-case letters, digits, _)")
    p.add_argument("--ra", help="RA column (default: recognised by name)")
    p.add_argument("--dec", help="Dec column (default: recognised by name)")
    p.add_argument("--id", help="identifier column (default: a name column, else the row number)")
    p.add_argument("--type", help="object type column")
    p.add_argument("--unit", choices=["deg", "rad"], help="unit of numeric coordinates (default deg)")
    p.add_argument("--table", help="SQLite table (default: the one with coordinates)")
    p.set_defaults(func=cmd_catalogs_load)
    p = catalogs.add_parser("list", help="loaded catalogs with their provenance")
    p.set_defaults(func=cmd_catalogs_list)

    p = sub.add_parser("xmatch", help="cross-match alerts with a loaded catalog into silver.xmatch")
    p.add_argument("--catalog", required=True)
    p.add_argument("--radius", type=float, help="arcsec (default: science.catalogs.NAME.radius_arcsec)")
    p.add_argument("--night", type=int, help="YYYYMMDD (default: every night in silver)")
    p.add_argument("--survey", help="only this survey's alerts (ztf, rubin; default: all)")
    p.add_argument("--all", action="store_true", default=None, help="every match within the radius")
    p.set_defaults(func=cmd_xmatch)

    bench = _bench_subparsers(sub)
    if bench is not None:
        p = bench.add_parser("xmatch", help="cross-match wall time: N random positions against a catalog")
        p.add_argument("--positions", type=int, default=1_000_000)
        p.add_argument("--catalog", type=Path, help="catalog file (default: ../shared/data VSX)")
        p.add_argument("--name", default="vsx")
        p.add_argument("--radius", type=float, default=1.5, help="arcsec")
        p.add_argument("--all", action="store_true", help="every match, not only the nearest")
        p.add_argument("--work-dir", type=Path, help="scratch folder (default: a temporary one, deleted)")
        p.set_defaults(func=cmd_bench_xmatch)
