"""`siskin reclassify --from N --to M`: rerun the science modules over the history of a range of nights."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_reclassify(args: argparse.Namespace) -> int:
    from siskin.cli.main import _settings
    from siskin.ops.reclassify import reclassify

    last = args.last if args.last is not None else args.first
    result = reclassify(_settings(args), args.first, last, force=args.force)
    for s in result.skipped:
        print(
            f"night {s.night}: {s.alerts} alerts already scored by the current modules, skipped "
            "(--force replays it)"
        )
    for r in result.replayed:
        why = "; ".join(result.reasons.get(r.night, []))
        print(
            f"night {r.night}: {r.silver_after} alerts rescored, {r.objects_rebuilt} objects updated, "
            f"{r.class_changes} class changes recorded (because: {why})"
        )
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "reclassify",
        help="rerun the science modules over a range of nights (a replay per night whose scores are not "
        "current); records class changes",
    )
    p.add_argument("--from", dest="first", type=int, required=True, help="first night, YYYYMMDD")
    p.add_argument("--to", dest="last", type=int, help="last night, YYYYMMDD (default: --from)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replay every night of the range, even those every current module already scored",
    )
    p.set_defaults(func=cmd_reclassify)
