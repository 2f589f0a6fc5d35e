"""Upserting folded object rows into `gold.objects`, touching only the sky cells a batch's alerts fall in.

`gold.objects` is partitioned by `bucket`, the sky cell of each object (`siskin.gold.cells`): a
micro-batch covers one or a few survey fields, so its objects sit in a handful of cells whatever the
table's size. A batch reads the current rows of its objects from the cells within the search margin of
its alerts, folds its partial rows in, and one MERGE, restricted to the same cells, writes them with the
app transaction (a replayed batch is a no-op). A row stays in the cell it was first placed in.

A MERGE that meets a concurrent commit on its cells (`siskin maintain` compacting them) fails in
delta-rs; it is run again on the table's new version (compaction does not change the rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siskin.errors import LakeError
from siskin.gold.cells import cell_of, cells_near
from siskin.gold.objects import KEYS, aggregate_alerts, gold_schema, reduce_partials, to_gold_table

GOLD = "gold.objects"


def _cell_filter(cells: np.ndarray | None) -> list[tuple[str, str, list[str]]] | None:
    return None if cells is None else [("bucket", "in", [str(int(c)) for c in cells])]


def read_objects(
    gold_uri: str, keys: pd.DataFrame, cells: np.ndarray | None, columns: list[str] | None = None
) -> pd.DataFrame:
    """The current gold rows (or `columns`) of these (survey, objectId) keys, from the files of `cells` only.

    `cells=None` reads every cell (only for callers without alert positions).
    """
    from siskin.lake.transactions import current_table

    table = current_table(gold_uri)
    if table is None or keys.empty or (cells is not None and len(cells) == 0):
        return gold_schema().empty_table().to_pandas()
    ids = pa.array(pd.unique(keys["objectId"].astype(str)), pa.string())
    data = table.to_pyarrow_dataset(file_pruning_predicate=_cell_filter(cells)).to_table(columns=columns)
    data = data.filter(pc.is_in(data.column("objectId").cast(pa.string()), value_set=ids))
    frame = data.to_pandas()
    if frame.empty:
        return frame
    return frame.merge(keys[KEYS].drop_duplicates(), on=KEYS, how="inner")


def place(rows: pd.DataFrame, current: pd.DataFrame, positions: pd.DataFrame | None) -> np.ndarray:
    """Each object's cell: where its row already lives, else the cell of its first alert (or its position)."""
    index = pd.MultiIndex.from_frame(rows[KEYS])
    cell = pd.Series(np.full(len(rows), -1, np.int64), index=index)
    if positions is not None and not positions.empty:
        first = positions.drop_duplicates(KEYS).set_index(KEYS)
        found = first.reindex(index)
        ok = np.isfinite(found["ra"].to_numpy(float)) & np.isfinite(found["dec"].to_numpy(float))
        cell[ok] = cell_of(found["ra"].to_numpy(float)[ok], found["dec"].to_numpy(float)[ok])
    own = (
        (cell.to_numpy() < 0)
        & np.isfinite(rows["ra"].to_numpy(float))
        & np.isfinite(rows["dec"].to_numpy(float))
    )
    cell[own] = cell_of(rows["ra"].to_numpy(float)[own], rows["dec"].to_numpy(float)[own])
    if not current.empty:
        sticky = current.drop_duplicates(KEYS).set_index(KEYS)["bucket"].reindex(index)
        have = sticky.notna().to_numpy()
        cell[have] = sticky.to_numpy()[have].astype(np.int64)
    if (cell.to_numpy() < 0).any():
        missing = rows.loc[cell.to_numpy() < 0, KEYS].head(3).to_dict("records")
        raise LakeError(f"gold objects without any position cannot be placed in a sky cell: {missing}")
    return cell.to_numpy().astype(np.int32)


def _merge(
    gold_uri: str,
    rows: pa.Table,
    cells: np.ndarray | None,
    app_id: str,
    version: int,
    metadata: dict[str, str],
) -> bool:
    """One MERGE restricted to `cells` (all cells if None), with the app transaction; retried on conflicts."""
    from deltalake import CommitProperties, Transaction

    from siskin.lake.catalog import table
    from siskin.lake.transactions import STREAM_COMMIT_HOOKS, committed_version, ensure_table, retry_conflicts

    spec = table(GOLD)
    props = CommitProperties(
        app_transactions=[Transaction(app_id=app_id, version=version)], custom_metadata=metadata or None
    )
    keys = "t.survey = s.survey AND t.objectId = s.objectId"
    predicate = keys if cells is None else f"t.bucket IN ({', '.join(str(int(c)) for c in cells)}) AND {keys}"

    def attempt() -> bool:
        delta = ensure_table(gold_uri, spec.arrow_schema(), spec.partition_by)
        done = committed_version(delta, app_id)
        if done is not None and done >= version:
            return False
        (
            delta.merge(
                rows,
                predicate=predicate,
                source_alias="s",
                target_alias="t",
                commit_properties=props,
                post_commithook_properties=STREAM_COMMIT_HOOKS,
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        return True

    return retry_conflicts(gold_uri, attempt, "gold MERGE")


def merge_objects(
    gold_uri: str,
    rows: pa.Table,
    *,
    app_id: str,
    version: int,
    metadata: dict[str, str] | None = None,
    positions: pd.DataFrame | None = None,
) -> bool:
    """Upsert complete object rows in one commit; False when this (app_id, version) was merged already.

    `positions` (survey, objectId, ra, dec: alert positions of these objects) bound the cells searched;
    without them, the rows' own positions do, or, for a row that has none, the whole table is searched.
    """
    from siskin.lake.transactions import already_committed

    if already_committed(gold_uri, app_id, version) or rows.num_rows == 0:
        return False
    frame = rows.to_pandas()
    ra, dec = frame["ra"].to_numpy(float), frame["dec"].to_numpy(float)
    if positions is not None and not positions.empty:
        cells: np.ndarray | None = cells_near(positions["ra"], positions["dec"])
    elif (np.isfinite(ra) & np.isfinite(dec)).all():
        cells = cells_near(ra, dec)
    else:
        cells = None
    current = read_objects(gold_uri, frame[KEYS], cells, columns=[*KEYS, "bucket"])
    frame["bucket"] = place(frame, current, positions)
    return _merge(gold_uri, to_gold_table(frame), cells, app_id, version, metadata or {})


def fold_alerts(
    gold_uri: str, alerts: pd.DataFrame, buckets: int
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """The new gold rows of the objects these alerts (gold input shape) belong to, the cells searched,
    and those objects' rows before the alerts (for the class history)."""
    cells = cells_near(alerts["ra"], alerts["dec"])
    partial = aggregate_alerts(alerts, buckets)
    current = read_objects(gold_uri, partial[KEYS], cells)
    merged = (
        partial
        if current.empty
        else reduce_partials(pd.concat([current, partial], ignore_index=True), buckets)
    )
    merged["bucket"] = place(merged, current, alerts[[*KEYS, "ra", "dec"]])
    return merged, cells, current


def merge_folded(
    gold_uri: str,
    merged: pd.DataFrame,
    cells: np.ndarray,
    *,
    app_id: str,
    version: int,
    metadata: dict[str, str] | None = None,
) -> bool:
    """MERGE rows `fold_alerts` computed (restricted to its cells); False when already committed."""
    from siskin.lake.transactions import already_committed

    if merged.empty or already_committed(gold_uri, app_id, version):
        return False
    return _merge(gold_uri, to_gold_table(merged), cells, app_id, version, metadata or {})


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
    from siskin.lake.transactions import already_committed

    if alerts.empty or already_committed(gold_uri, app_id, version):
        return 0
    merged, cells, _ = fold_alerts(gold_uri, alerts, buckets)
    _merge(gold_uri, to_gold_table(merged), cells, app_id, version, metadata or {})
    return len(merged)
