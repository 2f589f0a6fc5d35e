"""What the science layer made of a night: classes, catalog labels, filtered streams."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings

NO_LABEL = {"", "Unknown", "Fail", "None", "nan"}
# silver columns holding a catalog label, with the name shown (a struct column: its name field)
LABEL_COLUMNS = {
    "cdsxmatch": "SIMBAD",
    "vsx": "VSX",
    "gcvs": "GCVS",
    "mangrove": "Mangrove",
    "x3hsp": "3HSP",
    "x4lac": "4LAC",
    "spicy_class": "SPICY",
}


@dataclass
class ScienceSummary:
    """Per night: class counts, the commonest catalog labels, and each filter topic's message count."""

    night: int
    alerts: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    labels: Counter[tuple[str, str]] = field(default_factory=Counter)  # (catalog, label)
    topics: list[tuple[str, str, int | None, int]] = field(default_factory=list)  # filter, topic, msgs, rows


def _night(settings: Settings, name: str, night: int, columns: list[str]) -> pa.Table | None:
    from siskin.lake.catalog import table
    from siskin.lake.transactions import open_table

    delta = open_table(table(name).path(settings.lake_uri))
    if delta is None:
        return None
    dataset = delta.to_pyarrow_dataset()
    present = [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=present, filter=pc.field("night") == night)


def _label_values(column: pa.ChunkedArray) -> list[str]:
    values = column.combine_chunks()
    if pa.types.is_struct(values.type):
        values = values.field(0)
    return [str(v) for v in values.to_pylist() if v is not None and str(v) not in NO_LABEL]


def science_summary(settings: Settings, night: int, *, topics: bool = True) -> ScienceSummary:
    """Read the night's silver classes and labels, and (with `topics`) count the filter topics."""
    out = ScienceSummary(night)
    silver = _night(settings, "silver.alerts", night, ["finkclass", *LABEL_COLUMNS])
    if silver is not None:
        out.alerts = silver.num_rows
        if "finkclass" in silver.column_names:
            out.classes = Counter(str(c) for c in silver.column("finkclass").to_pylist() if c is not None)
        for column, shown in LABEL_COLUMNS.items():
            if column in silver.column_names:
                out.labels.update((shown, v) for v in _label_values(silver.column(column)))
    if topics and settings.streams.enabled:
        from siskin.streams.watch import topic_counts

        for t in topic_counts(settings):
            rows = _night(settings, t.table, night, ["candid"])
            out.topics.append((t.filter, t.topic, t.messages, 0 if rows is None else rows.num_rows))
    return out


def format_science_summary(s: ScienceSummary, top: int = 8) -> str:
    """The summary as the demo prints it."""
    lines = [f"science, night {s.night} ({s.alerts} alerts):", "  classes:"]
    lines += [f"    {n:>7}  {c}" for c, n in s.classes.most_common()] or ["    (no class column yet)"]
    lines.append("  top cross-match labels:")
    lines += [f"    {n:>7}  {cat}: {label}" for (cat, label), n in s.labels.most_common(top)] or [
        "    (no catalog match)"
    ]
    if s.topics:
        lines.append("  filtered streams (topic: messages, rows in its gold table tonight):")
        for _, topic, messages, rows in s.topics:
            lines.append(f"    {topic:<40} {'-' if messages is None else messages:>7}  {rows:>7}")
    return "\n".join(lines)
