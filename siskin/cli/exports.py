"""`siskin export --spec NAME --night N`: one configured export (or `--all`) for one night."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_export(args: argparse.Namespace) -> int:
    from siskin.cli.main import _settings
    from siskin.exports import run_all, run_export
    from siskin.exports.run import summary

    settings = _settings(args)
    if args.all:
        manifests = run_all(settings, args.night)
    else:
        manifests = [run_export(settings, args.spec, args.night)]
    for manifest in manifests:
        print(json.dumps(summary(manifest)))
    return 0


def add_commands(sub: Any) -> None:
    """Register `siskin export` on the `siskin` command's subparsers."""
    p = sub.add_parser("export", help="export one night to a collaborator, as configured in [exports.specs]")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--spec", help="export spec name ([exports.specs.NAME])")
    which.add_argument("--all", action="store_true", help="every configured spec")
    p.add_argument("--night", type=int, required=True, help="YYYYMMDD")
    p.set_defaults(func=cmd_export)
