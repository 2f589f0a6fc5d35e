"""`siskin replay --night N`: rebuild one night's silver and the affected gold objects from bronze.

Used after a decoder, quality-cut or model change. Steps:
1. note the objects silver holds for the night, then delete the night from silver, cutouts, rejects;
2. decode the night's bronze rows again through the same silver stage (commits tagged
   `siskin.replay`, which the gold stream skips, so nothing is counted twice);
3. recompute those objects' gold rows from all of their silver alerts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
import pyarrow.compute as pc

from siskin.gold.objects import (
    GOLD_INPUT_COLUMNS,
    aggregate_alerts,
    merge_objects,
    to_gold_table,
)
from siskin.lake.tables import BRONZE_ALERTS, GOLD_OBJECTS, SILVER_ALERTS, SILVER_CUTOUTS, SILVER_REJECTS
from siskin.pipeline.lakehouse import Lakehouse
from siskin.silver.batch import SilverStage


@dataclass
class ReplayReport:
    """What a replay removed and rebuilt."""

    night: int
    bronze_rows: int
    silver_before: int
    silver_after: int
    rejects_after: int
    objects_rebuilt: int


def _night_objects(uri: str, night: int) -> tuple[set[str], int]:
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return set(), 0
    data = table.to_pyarrow_dataset().to_table(columns=["objectId"], filter=pc.field("night") == night)
    return set(data.column("objectId").to_pylist()), data.num_rows


def _count(uri: str, night: int) -> int:
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return 0
    return table.to_pyarrow_dataset().count_rows(filter=pc.field("night") == night)


def rebuild_objects(house: Lakehouse, object_ids: set[str], *, app_id: str) -> int:
    """Recompute gold rows of these objects from all their silver alerts; drop objects left with none."""
    from siskin.lake.transactions import open_table

    if not object_ids:
        return 0
    silver = open_table(house.path(SILVER_ALERTS.name))
    if silver is None:
        return 0
    ids = sorted(object_ids)
    alerts = (
        silver.to_pyarrow_dataset()
        .to_table(columns=list(GOLD_INPUT_COLUMNS), filter=pc.field("objectId").isin(ids))
        .to_pandas()
    )
    gold_uri = house.path(GOLD_OBJECTS.name)
    gone = sorted(set(ids) - set(alerts["objectId"].unique()))
    if gone:
        quoted = ", ".join("'" + g.replace("'", "''") + "'" for g in gone)
        gold = open_table(gold_uri)
        if gold is not None:
            gold.delete(f"objectId IN ({quoted})")
    if alerts.empty:
        return 0
    rows: pd.DataFrame = aggregate_alerts(alerts)
    merge_objects(gold_uri, to_gold_table(rows), app_id=app_id, version=0)
    return len(rows)


def replay_night(house: Lakehouse, night: int) -> ReplayReport:
    """Delete and rebuild silver (alerts, cutouts, rejects) and gold for one night."""
    from deltalake import CommitProperties

    from siskin.lake.transactions import open_table

    house.ensure_tables()
    before, silver_before = _night_objects(house.path(SILVER_ALERTS.name), night)
    marker = CommitProperties(custom_metadata={"siskin.replay": "true"})
    for spec in (SILVER_ALERTS, SILVER_CUTOUTS, SILVER_REJECTS):
        table = open_table(house.path(spec.name))
        if table is not None:
            table.delete(f"night = {int(night)}", commit_properties=marker)
    bronze = house.engine.file_refs(house.spark, house.path(BRONZE_ALERTS.name), night)
    run = uuid.uuid4().hex
    stage = SilverStage(house.settings, app_id=f"siskin-replay-{night}-{run}", query="replay", replay=True)
    bronze_rows = _count(house.path(BRONZE_ALERTS.name), night)
    stage(bronze, 0)
    after, silver_after = _night_objects(house.path(SILVER_ALERTS.name), night)
    rebuilt = rebuild_objects(house, before | after, app_id=f"siskin-replay-gold-{night}-{run}")
    return ReplayReport(
        night,
        bronze_rows,
        silver_before,
        silver_after,
        _count(house.path(SILVER_REJECTS.name), night),
        rebuilt,
    )
