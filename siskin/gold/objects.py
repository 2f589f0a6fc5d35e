"""Gold objects: one row per objectId, kept current by merging each silver micro-batch.

An object's row is a *partial aggregate* that combines associatively: the batch's alerts are
aggregated into partial rows, the existing gold rows of the same objects are read, and `reduce`
folds both into the new rows that one MERGE writes (tagged with the app transaction). The same
`reduce` rebuilds objects from scratch after a replay. Magnitudes, colour and mean position use
alerts that pass the quality cuts; counts use all alerts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from siskin.lake.tables import UTC_TS

BANDS = {1: "g", 2: "r", 3: "i"}
GOLD_INPUT_COLUMNS = (
    "objectId",
    "candid",
    "jd",
    "fid",
    "magpsf",
    "sigmapsf",
    "ra",
    "dec",
    "rb",
    "quality_ok",
    "night",
)

GOLD_SCHEMA = pa.schema(
    [
        pa.field("objectId", pa.string()),
        pa.field("first_jd", pa.float64()),
        pa.field("last_jd", pa.float64()),
        pa.field("first_night", pa.int32()),
        pa.field("last_night", pa.int32()),
        pa.field("n_alerts", pa.int64()),
        pa.field("n_good", pa.int64()),
        pa.field("last_candid", pa.int64()),
        pa.field("last_rb", pa.float64()),
        pa.field("last_quality_ok", pa.bool_()),
        *[
            pa.field(f"last_{what}_{b}", pa.float64())
            for b in BANDS.values()
            for what in ("mag", "magerr", "jd")
        ],
        pa.field("color_g_r", pa.float64()),
        pa.field("color_dt", pa.float64()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("sum_x", pa.float64()),
        pa.field("sum_y", pa.float64()),
        pa.field("sum_z", pa.float64()),
        pa.field("last_class", pa.string()),
        pa.field("updated_at", UTC_TS),
    ]
)


def aggregate_alerts(alerts: pd.DataFrame) -> pd.DataFrame:
    """Partial gold rows from silver alerts (one row per objectId)."""
    df = alerts.copy()
    good = df["quality_ok"].fillna(False).astype(bool)
    rad_ra, rad_dec = np.radians(df["ra"].astype(float)), np.radians(df["dec"].astype(float))
    w = good.astype(float)
    df["sum_x"] = np.cos(rad_dec) * np.cos(rad_ra) * w
    df["sum_y"] = np.cos(rad_dec) * np.sin(rad_ra) * w
    df["sum_z"] = np.sin(rad_dec) * w
    part = pd.DataFrame(
        {
            "objectId": df["objectId"],
            "first_jd": df["jd"],
            "last_jd": df["jd"],
            "first_night": df["night"],
            "last_night": df["night"],
            "n_alerts": 1,
            "n_good": good.astype(int),
            "last_candid": df["candid"],
            "last_rb": df["rb"],
            "last_quality_ok": good,
            "sum_x": df["sum_x"],
            "sum_y": df["sum_y"],
            "sum_z": df["sum_z"],
            "last_class": None,
        }
    )
    for fid, band in BANDS.items():
        sel = good & (df["fid"] == fid)
        part[f"last_mag_{band}"] = df["magpsf"].where(sel)
        part[f"last_magerr_{band}"] = df["sigmapsf"].where(sel)
        part[f"last_jd_{band}"] = df["jd"].where(sel)
    return reduce_partials(part)


def _latest(df: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Per object, `columns` from the row with the largest `key` (rows with a null key ignored)."""
    rows = df.dropna(subset=[key])
    idx = rows.groupby("objectId", sort=False)[key].idxmax()
    return rows.loc[idx.values, ["objectId", *columns]].set_index("objectId")


def reduce_partials(parts: pd.DataFrame) -> pd.DataFrame:
    """Fold any number of partial rows per object into one row per object."""
    parts = parts.reset_index(drop=True)
    g = parts.groupby("objectId", sort=False)
    out = pd.DataFrame(
        {
            "first_jd": g["first_jd"].min(),
            "last_jd": g["last_jd"].max(),
            "first_night": g["first_night"].min(),
            "last_night": g["last_night"].max(),
            "n_alerts": g["n_alerts"].sum(),
            "n_good": g["n_good"].sum(),
            "sum_x": g["sum_x"].sum(),
            "sum_y": g["sum_y"].sum(),
            "sum_z": g["sum_z"].sum(),
        }
    )
    out = out.join(_latest(parts, "last_jd", ["last_candid", "last_rb", "last_quality_ok"]))
    classes = parts.dropna(subset=["last_class"])
    out["last_class"] = _latest(classes, "last_jd", ["last_class"])["last_class"] if len(classes) else None
    for band in BANDS.values():
        cols = [f"last_mag_{band}", f"last_magerr_{band}"]
        out = out.join(_latest(parts, f"last_jd_{band}", [*cols, f"last_jd_{band}"]))
    norm = np.hypot(out["sum_x"], out["sum_y"])
    has_pos = (norm > 0) | (out["sum_z"] != 0)
    ra = np.degrees(np.arctan2(out["sum_y"], out["sum_x"])) % 360.0
    out["ra"] = np.where(has_pos, np.where(ra >= 360.0 - 1e-9, 0.0, ra), np.nan)
    out["dec"] = np.where(has_pos, np.degrees(np.arctan2(out["sum_z"], norm)), np.nan)
    out["color_g_r"] = out["last_mag_g"] - out["last_mag_r"]
    out["color_dt"] = (out["last_jd_g"] - out["last_jd_r"]).abs()
    out["updated_at"] = pd.Timestamp.now(tz="UTC")
    return out.reset_index()


def to_gold_table(rows: pd.DataFrame) -> pa.Table:
    """Reduced rows as an Arrow table in the gold schema."""
    frame = rows.reindex(columns=GOLD_SCHEMA.names)
    return pa.Table.from_pandas(frame, schema=GOLD_SCHEMA, preserve_index=False)


def existing_rows(gold_uri: str, object_ids: list[str]) -> pd.DataFrame:
    """The current gold rows of these objects (empty frame if none)."""
    import pyarrow.compute as pc

    from siskin.lake.transactions import open_table

    table = open_table(gold_uri)
    if table is None or not object_ids:
        return GOLD_SCHEMA.empty_table().to_pandas()
    data = table.to_pyarrow_dataset().to_table(filter=pc.field("objectId").isin(object_ids))
    return data.to_pandas()


def merge_objects(gold_uri: str, rows: pa.Table, *, app_id: str, version: int) -> bool:
    """Upsert rows into gold in one commit; False when this batch was merged already."""
    from deltalake import CommitProperties, Transaction

    from siskin.lake.transactions import already_committed, ensure_table

    table = ensure_table(gold_uri, GOLD_SCHEMA, ())
    if already_committed(gold_uri, app_id, version):
        return False
    props = CommitProperties(app_transactions=[Transaction(app_id=app_id, version=version)])
    (
        table.merge(
            rows,
            predicate="t.objectId = s.objectId",
            source_alias="s",
            target_alias="t",
            commit_properties=props,
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return True


def upsert_alerts(gold_uri: str, alerts: pd.DataFrame, *, app_id: str, version: int) -> int:
    """Fold a batch of silver alerts into gold; returns the number of objects touched."""
    if alerts.empty:
        return 0
    partial = aggregate_alerts(alerts)
    current = existing_rows(gold_uri, partial["objectId"].tolist())
    merged = reduce_partials(pd.concat([current, partial], ignore_index=True)) if len(current) else partial
    merge_objects(gold_uri, to_gold_table(merged), app_id=app_id, version=version)
    return len(merged)
