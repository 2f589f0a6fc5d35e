"""`siskin compare fink PATH`: agreement of Siskin's science modules with a peer broker's added values."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from siskin.errors import SiskinError


def cmd_compare(args: argparse.Namespace) -> int:
    """Print per-column agreement rates and disagreements; exit 1 when a rate is under --min-rate."""
    from siskin.science.compare import compare, format_agreement, peer_files
    from siskin.science.registry import build

    paths = [file for path in args.paths for file in peer_files(path)]
    modules = build(args.module or None)
    settings = _settings(args)
    for module in modules:  # as in a Spark task: the lake's catalogs, the CDS service's URL
        module.bind(settings)
    result = compare(paths, modules, columns=args.column or None)
    if not result.columns:
        where = ", ".join(map(str, args.paths))
        raise SiskinError(f"no alert under {where} carries a column Siskin produces")
    if args.json:
        print(json.dumps(_as_json(result)))
    else:
        print(format_agreement(result, max_listed=args.max_listed))
    low = [f"{s}.{c}" for (s, c), r in result.columns.items() if not r.rate >= args.min_rate]
    if low:
        print(f"agreement under {args.min_rate:.2%}: {', '.join(low)}")
        return 1
    return 0


def _settings(args: argparse.Namespace) -> Any:
    """The deployment's settings, with this command's `--lake` and `--cds-url` over them."""
    import os

    from siskin.config import load_settings

    if getattr(args, "config", None):
        os.environ["SISKIN_CONFIG"] = str(args.config)
    overrides: dict[str, Any] = {}
    lake = getattr(args, "compare_lake", None) or getattr(args, "lake", None)
    if lake:
        overrides["lake"] = lake
    settings = load_settings(**overrides)
    if args.cds_url:
        cds = settings.science.cds.model_copy(update={"url": args.cds_url})
        settings = settings.model_copy(update={"science": settings.science.model_copy(update={"cds": cds})})
    return settings


def _as_json(result: Any) -> dict[str, Any]:
    return {
        "alerts": result.alerts,
        "files": len(result.files),
        "columns": [
            {
                "survey": survey,
                "column": column,
                "compared": r.compared,
                "agreed": r.agreed,
                "rate": None if math.isnan(r.rate) else r.rate,
                "disagreements": [list(d) for d in r.disagreements],
            }
            for (survey, column), r in result.columns.items()
        ],
        "not_decoded": [list(d) for d in result.not_decoded],
        "not_produced": result.not_produced,
    }


def add_commands(sub: Any) -> None:
    """Register `compare` and its `fink` subcommand on the main parser's subcommands."""
    compare = sub.add_parser("compare", help="agreement of Siskin's science modules with a peer broker")
    peers = compare.add_subparsers(dest="peer", required=True)
    p = peers.add_parser(
        "fink", help="alerts carrying Fink's added values (Parquet with nested candidate, or Avro)"
    )
    p.add_argument("paths", nargs="+", type=Path, help="files or folders (searched for .parquet and .avro)")
    p.add_argument("--module", action="append", help="science module to run (repeatable; default: all)")
    p.add_argument("--column", action="append", help="peer column to compare (repeatable; default: all)")
    p.add_argument("--max-listed", type=int, default=50, help="disagreements listed per column")
    p.add_argument("--min-rate", type=float, default=0.0, help="exit 1 when a column agrees less (0..1)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the text report")
    p.add_argument(
        "--lake",
        dest="compare_lake",
        help="lake whose catalogs.<name> tables label the alerts (default: --lake)",
    )
    p.add_argument("--cds-url", help="CDS xMatch sync endpoint (default: science.cds.url; a replay server)")
    p.set_defaults(func=cmd_compare)
