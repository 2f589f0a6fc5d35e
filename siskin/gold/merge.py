"""Upserting folded object rows into `gold.objects`, touching only the buckets a batch's objects live in.

`gold.objects` is partitioned by `bucket` (a stable hash of survey and objectId): a batch reads the
current rows of its objects from those buckets only, folds its partial rows in, and one MERGE, restricted
to the same buckets, writes them with the app transaction (so a replayed batch is a no-op).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siskin.gold.objects import aggregate_alerts, gold_schema, reduce_partials, to_gold_table

GOLD = "gold.objects"


def existing_rows(gold_uri: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The current gold rows of these objects, read from their buckets only (empty frame if none)."""
    from siskin.lake.transactions import open_table

    table = open_table(gold_uri)
    if table is None or rows.empty:
        return gold_schema().empty_table().to_pandas()
    buckets = sorted({int(b) for b in rows["bucket"].unique()})
    ids = pa.array(rows["objectId"].unique().tolist(), pa.string())
    data = table.to_pyarrow_dataset(partitions=None).to_table(
        filter=pc.field("bucket").isin(buckets) & pc.field("objectId").isin(ids)
    )
    frame = data.to_pandas()
    if frame.empty:
        return frame
    wanted = rows[["survey", "objectId"]].drop_duplicates()
    return frame.merge(wanted, on=["survey", "objectId"], how="inner")


def merge_objects(
    gold_uri: str, rows: pa.Table, *, app_id: str, version: int, metadata: dict[str, str] | None = None
) -> bool:
    """Upsert rows into gold in one commit; False when this (app_id, version) was merged already."""
    from deltalake import CommitProperties, Transaction

    from siskin.lake.catalog import table
    from siskin.lake.transactions import already_committed, ensure_table

    spec = table(GOLD)
    delta = ensure_table(gold_uri, spec.arrow_schema(), spec.partition_by)
    if already_committed(gold_uri, app_id, version):
        return False
    buckets = sorted({int(b) for b in rows.column("bucket").to_pylist()})
    props = CommitProperties(
        app_transactions=[Transaction(app_id=app_id, version=version)], custom_metadata=metadata or None
    )
    in_buckets = f"t.bucket IN ({', '.join(str(b) for b in buckets)}) AND t.bucket = s.bucket"
    (
        delta.merge(
            rows,
            predicate=f"{in_buckets} AND t.survey = s.survey AND t.objectId = s.objectId",
            source_alias="s",
            target_alias="t",
            commit_properties=props,
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return True


def fold_alerts(gold_uri: str, alerts: pd.DataFrame, buckets: int) -> pd.DataFrame:
    """The new gold rows of the objects these alerts (gold input shape) belong to."""
    partial = aggregate_alerts(alerts, buckets)
    current = existing_rows(gold_uri, partial)
    if current.empty:
        return partial
    return reduce_partials(pd.concat([current, partial], ignore_index=True), buckets)


def upsert_alerts(
    gold_uri: str,
    alerts: pd.DataFrame,
    *,
    buckets: int,
    app_id: str,
    version: int,
    metadata: dict[str, str] | None = None,
) -> int:
    """Fold a batch of alerts into gold with one MERGE; returns the number of objects touched."""
    if alerts.empty:
        return 0
    merged = fold_alerts(gold_uri, alerts, buckets)
    merge_objects(gold_uri, to_gold_table(merged), app_id=app_id, version=version, metadata=metadata)
    return len(merged)
