"""`siskin reclassify --from N --to M`: rerun the science modules over the history of a range of nights."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_reclassify(args: argparse.Namespace) -> int:
    from siskin.cli.main import _settings
    from siskin.ops.reclassify import reclassify
    from siskin.pipeline.lakehouse import Lakehouse

    house = Lakehouse(_settings(args))
    try:
        reports = reclassify(house, args.first, args.last if args.last is not None else args.first)
    finally:
        house.release()
    for r in reports:
        print(
            f"night {r.night}: {r.silver_after} alerts rescored, {r.objects_rebuilt} objects updated, "
            f"{r.class_changes} class changes recorded"
        )
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "reclassify",
        help="rerun the science modules over a range of nights (a replay per night); records class changes",
    )
    p.add_argument("--from", dest="first", type=int, required=True, help="first night, YYYYMMDD")
    p.add_argument("--to", dest="last", type=int, help="last night, YYYYMMDD (default: --from)")
    p.set_defaults(func=cmd_reclassify)
