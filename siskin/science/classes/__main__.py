"""`python -m siskin.science.classes FILE.parquet...`: the class rules over alerts a peer broker processed.

The rules read the peer's own added columns (cdsxmatch, roid, mulens, snn_*, rf_*, tracklet, vsx, gcvs)
next to the alert fields as Siskin's silver decodes them, so the rule logic is checked apart from
Siskin's scores. Prints, per file, which rules fired and how often, which rules could not run and
what they lacked, and, when the file carries the peer's `finkclass`, the agreement and each
disagreement. Exit status 0 when every file was read, 1 when a file holds no ZTF alerts.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siskin.science.classes.rules import ClassConfig, classify, rule_inputs
from siskin.science.compare import read_parquet


def with_peer_inputs(path: Path) -> tuple[pa.Table, pa.Array | None]:
    """Silver rows of the file with the peer's rule inputs appended, and the peer's `finkclass` if any."""
    item = read_parquet(path)
    if item is None or item.survey != "ztf":
        raise SystemExit(f"{path}: no ZTF alerts")
    names = pq.read_schema(path).names
    carried = [n for n in rule_inputs() if n in names and n not in item.alerts.column_names]
    raw = pq.read_table(path, columns=["candid", *carried, *(["finkclass"] if "finkclass" in names else [])])
    order = pc.index_in(item.alerts.column("candid"), value_set=raw.column("candid"))
    alerts = item.alerts
    for name in carried:
        alerts = alerts.append_column(name, raw.column(name).take(order))
    theirs = None
    if "finkclass" in names:
        theirs = pc.cast(raw.column("finkclass").take(order), pa.string()).combine_chunks()
    return alerts, theirs


def report(path: Path, config: ClassConfig) -> str:
    """The text block for one file."""
    alerts, theirs = with_peer_inputs(path)
    result = classify(alerts, config)
    lines = [f"{path}: {alerts.num_rows} alerts"]
    for name, fired in result.fired.items():
        state = (
            "disabled"
            if name in result.disabled
            else f"skipped (needs {', '.join(result.skipped[name])})"
            if name in result.skipped
            else f"fired {int(fired.sum())}"
        )
        lines.append(f"  rule {name:28s} {state}")
    for label, count in Counter(result.labels.to_pylist()).most_common():
        lines.append(f"  class {label!s:30s} {count}")
    if theirs is not None:
        ours_list, theirs_list = result.labels.to_pylist(), theirs.to_pylist()
        pairs = list(zip(ours_list, theirs_list, alerts.column("candid").to_pylist(), strict=True))
        agreed = sum(a == b for a, b, _ in pairs)
        lines.append(f"  finkclass agreement {agreed}/{len(pairs)} ({agreed / max(len(pairs), 1):.1%})")
        lines += [f"    candid {c}: ours {a!r}, peer {b!r}" for a, b, c in pairs if a != b]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, print one block per file."""
    parser = argparse.ArgumentParser(prog="python -m siskin.science.classes", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument(
        "--broker-rules",
        action="store_true",
        help="SIMBAD only as override (no VSX/GCVS), as the peer broker",
    )
    args = parser.parse_args(argv)
    config = ClassConfig(variable_star_override=not args.broker_rules)
    for path in args.paths:
        print(report(path, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
