"""Class history per object: a row each time an object's class (or the rules' version giving it) changes.

`gold.objects` carries the latest class; `gold.class_history` keeps every change, with the alert
that caused it, the class rules' version, and the class it replaced. A micro-batch compares its
alerts, in time order per object, with the object's class before the batch (its gold row); the
nightly reclassification appends the changes a new model version makes. Append-only: a change is
never rewritten, so the previous classes stay.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from siskin.lake.catalog import UTC_TS

CLASS_HISTORY = "gold.class_history"
KEYS = ["survey", "objectId"]


def class_history_schema() -> pa.Schema:
    """Columns of `gold.class_history`."""
    return pa.schema(
        [
            pa.field("survey", pa.string()),
            pa.field("objectId", pa.string()),
            pa.field("candid", pa.int64()),
            pa.field("jd", pa.float64()),
            pa.field("night", pa.int32()),
            pa.field("class", pa.string()),
            pa.field("class_version", pa.string()),
            pa.field("previous_class", pa.string()),
            pa.field("previous_class_version", pa.string()),
            pa.field("source", pa.string()),  # "stream" or "reclassify"
            pa.field("recorded_at", UTC_TS),
        ]
    )


def class_changes(
    alerts: pd.DataFrame, current: pd.DataFrame, *, source: str = "stream", now: datetime | None = None
) -> pa.Table:
    """The class changes these alerts (gold input shape: survey, objectId, candid, jd, night, class,
    class_version) make, given each object's class before them (`current`: survey, objectId,
    last_class, last_class_version; objects absent there had none)."""
    schema = class_history_schema()
    if alerts.empty or "class" not in alerts:
        return schema.empty_table()
    rows = alerts.loc[alerts["class"].notna(), [*KEYS, "candid", "jd", "night", "class", "class_version"]]
    if rows.empty:
        return schema.empty_table()
    rows = rows.sort_values([*KEYS, "jd", "candid"], kind="stable").reset_index(drop=True)
    before = current.reindex(columns=[*KEYS, "last_class", "last_class_version"]).drop_duplicates(KEYS)
    before = before.rename(columns={"last_class": "_c0", "last_class_version": "_v0"})
    rows = rows.merge(before, on=KEYS, how="left")
    grouped = rows.groupby(KEYS, sort=False)
    prev_class = grouped["class"].shift(1)
    prev_version = grouped["class_version"].shift(1)
    first = prev_class.isna() & (grouped.cumcount() == 0)
    rows["previous_class"] = prev_class.where(~first, rows["_c0"])
    rows["previous_class_version"] = prev_version.where(~first, rows["_v0"])
    same = (rows["class"] == rows["previous_class"]) & (
        rows["class_version"].fillna("") == rows["previous_class_version"].fillna("")
    )
    changed = rows.loc[~same].copy()
    changed["source"] = source
    changed["recorded_at"] = pd.Timestamp(now or datetime.now(UTC))
    frame = changed.reindex(columns=schema.names)
    frame["night"] = frame["night"].astype("int32")
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
