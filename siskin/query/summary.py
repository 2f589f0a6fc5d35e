"""What landed in the lake, per layer and per night: the report the demo and `ingest` print."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow.compute as pc

from siskin.config import Settings
from siskin.lake.catalog import table_path


@dataclass
class LakeSummary:
    """Counts per layer and night, reject reasons, duplicates and per-stage batch timings."""

    per_night: pd.DataFrame
    reject_reasons: pd.DataFrame
    gold_objects: int
    duplicates: int
    stage_seconds: pd.DataFrame

    @property
    def slowest_stage(self) -> tuple[str, float] | None:
        stages = (
            dict(zip(self.stage_seconds["query"], self.stage_seconds["mean_s"], strict=True))
            if len(self.stage_seconds)
            else {}
        )
        if not stages:
            return None
        name = max(stages, key=lambda k: stages[k])
        return name, stages[name]


def _counts(settings: Settings, name: str, column: str) -> pd.Series:
    from siskin.lake.transactions import open_table

    table = open_table(table_path(settings.lake_uri, name))
    if table is None:
        return pd.Series(dtype="int64", name=column)
    data = table.to_pyarrow_dataset().to_table(columns=["night"])
    if data.num_rows == 0:
        return pd.Series(dtype="int64", name=column)
    counts = pc.value_counts(data.column("night")).to_pylist()
    return pd.Series({c["values"]: c["counts"] for c in counts}, name=column)


def summarize(settings: Settings) -> LakeSummary:
    """Read the lake's tables (without Spark) and count what each layer holds."""
    from siskin.lake.transactions import open_table

    per_night = (
        pd.concat(
            [
                _counts(settings, "bronze.alerts", "bronze"),
                _counts(settings, "silver.alerts", "silver"),
                _counts(settings, "silver.rubin_alerts", "rubin"),
                _counts(settings, "silver.rejects", "rejects"),
            ],
            axis=1,
        )
        .fillna(0)
        .astype("int64")
    )
    per_night.index.name = "night"
    per_night = per_night.sort_index()
    rejects = open_table(table_path(settings.lake_uri, "silver.rejects"))
    reasons = pd.DataFrame(columns=["reason_code", "count"])
    if rejects is not None:
        data = rejects.to_pyarrow_dataset().to_table(columns=["reason_code"])
        if data.num_rows:
            reasons = data.to_pandas().value_counts().rename("count").reset_index()
    gold = open_table(table_path(settings.lake_uri, "gold.objects"))
    n_gold = gold.to_pyarrow_dataset().count_rows() if gold is not None else 0
    ops = open_table(table_path(settings.lake_uri, "ops.batches"))
    duplicates, stages = 0, pd.DataFrame(columns=["query", "batches", "mean_s", "max_s"])
    if ops is not None:
        frame = ops.to_pandas(columns=["query", "seconds", "duplicates", "replay"])
        if len(frame):
            frame["query"] = frame["query"].str.replace(r"^bronze_.*", "bronze", regex=True)
            duplicates = int(frame.loc[(frame["query"] == "silver"), "duplicates"].sum())
            stages = (
                frame.groupby("query")["seconds"]
                .agg(batches="count", mean_s="mean", max_s="max")
                .reset_index()
            )
    return LakeSummary(per_night, reasons, n_gold, duplicates, stages)


def format_summary(summary: LakeSummary, lake_uri: str) -> str:
    """The report printed at the end of the demo and of `siskin ingest`."""
    lines = [
        f"Lake: {lake_uri}",
        "",
        "Alerts per night (bronze payloads, silver ZTF and Rubin alerts, rejects):",
    ]
    if summary.per_night.empty:
        lines.append("  (empty)")
    else:
        lines.extend("  " + line for line in summary.per_night.to_string().splitlines())
        totals = summary.per_night.sum()
        lines.append(
            f"  total: bronze {totals['bronze']}, silver {totals['silver']}, rubin {totals['rubin']}, "
            f"rejects {totals['rejects']}, duplicates skipped {summary.duplicates}"
        )
    lines.append(f"Gold objects: {summary.gold_objects}")
    if len(summary.reject_reasons):
        lines.append(
            "Rejects by reason: "
            + ", ".join(f"{r.reason_code}={r.count}" for r in summary.reject_reasons.itertuples())
        )
    if len(summary.stage_seconds):
        lines.append("Micro-batch seconds per stage (mean / max over batches):")
        for r in summary.stage_seconds.itertuples():
            lines.append(f"  {r.query:<8} {r.batches:>4} batches  {r.mean_s:6.2f} s / {r.max_s:6.2f} s")
    slowest = summary.slowest_stage
    if slowest:
        lines.append(f"Slowest stage: {slowest[0]} ({slowest[1]:.2f} s per micro-batch on average)")
    lines += [
        "",
        "Query it:",
        '  siskin sql "SELECT night, count(*) FROM silver.alerts GROUP BY night"',
        '  siskin sql "SELECT objectId, n_alerts, last_mag_g, last_mag_r, color_g_r FROM gold.objects '
        'ORDER BY n_alerts DESC LIMIT 10"',
        '  siskin sql "SELECT reason_code, reason, count(*) FROM silver.rejects GROUP BY 1, 2"',
        "  siskin status",
    ]
    return "\n".join(lines)
