"""`siskin quality --night N`: one night's data-quality checks, report and Data Docs; 0 only if all pass."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_quality(args: argparse.Namespace) -> int:
    from siskin.cli.main import _settings
    from siskin.quality import run_night

    result = run_night(_settings(args), args.night)  # a suspect night raises QualityError: one line, status 2
    print(
        json.dumps(
            {
                "night": result.night,
                "status": result.status,
                "checks": len(result.outcomes),
                "failed": len(result.failures),
                "alerts": result.alerts,
                "rejects": result.rejects,
                "report": result.report,
                "data_docs": result.data_docs,
                "seconds": round(result.seconds, 1),
                "notes": result.notes,
            }
        )
    )
    return 0


def add_commands(sub: Any) -> None:
    """Register `siskin quality` on the `siskin` command's subparsers."""
    p = sub.add_parser(
        "quality", help="data-quality checks of one night (gold.night_status, report, Data Docs)"
    )
    p.add_argument("--night", type=int, required=True, help="YYYYMMDD")
    p.set_defaults(func=cmd_quality)
