"""Gold objects: one row per (survey, objectId), folded from silver alerts by associative partial aggregates.

An object's row is a *partial aggregate* that combines associatively: a batch's alerts are aggregated
into partial rows, the existing gold rows of the same objects are read, and `reduce_partials` folds both
into the new rows that one MERGE writes (`siskin.gold.merge`). The same fold rebuilds objects from scratch
after a replay. Magnitudes, colour and mean position use alerts that pass the quality cuts; counts use
all alerts. Both surveys arrive in one shape (`siskin.gold.inputs`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from siskin.lake.catalog import UTC_TS

BANDS = ("u", "g", "r", "i", "z", "y")
KEYS = ["survey", "objectId"]


def gold_schema() -> pa.Schema:
    """Columns of `gold.objects`."""
    return pa.schema(
        [
            pa.field("survey", pa.string()),
            pa.field("objectId", pa.string()),
            pa.field("bucket", pa.int32()),
            pa.field("first_jd", pa.float64()),
            pa.field("last_jd", pa.float64()),
            pa.field("first_night", pa.int32()),
            pa.field("last_night", pa.int32()),
            pa.field("n_alerts", pa.int64()),
            pa.field("n_good", pa.int64()),
            pa.field("last_candid", pa.int64()),
            pa.field("last_rb", pa.float64()),
            pa.field("last_quality_ok", pa.bool_()),
            *[pa.field(f"last_{what}_{b}", pa.float64()) for b in BANDS for what in ("mag", "magerr", "jd")],
            pa.field("color_g_r", pa.float64()),
            pa.field("color_dt", pa.float64()),
            pa.field("ra", pa.float64()),
            pa.field("dec", pa.float64()),
            pa.field("sum_x", pa.float64()),
            pa.field("sum_y", pa.float64()),
            pa.field("sum_z", pa.float64()),
            pa.field("last_class", pa.string()),
            pa.field("last_class_version", pa.string()),  # the class rules' version that gave last_class
            pa.field("last_class_jd", pa.float64()),  # time of the alert that gave last_class
            pa.field("updated_at", UTC_TS),
        ]
    )


def bucket_of(survey: pd.Series | np.ndarray, object_id: pd.Series | np.ndarray, buckets: int) -> np.ndarray:
    """The gold partition of each object: a stable hash of (survey, objectId) modulo `buckets`.

    pandas' `hash_array` uses a fixed key, so the bucket is the same in every process and release.
    """
    keys = (
        pd.Series(survey, dtype=object).astype(str).to_numpy()
        + "/"
        + pd.Series(object_id, dtype=object).astype(str).to_numpy()
    )
    hashed = pd.util.hash_array(keys.astype(object))
    return (hashed % np.uint64(buckets)).astype(np.int32)


def aggregate_alerts(alerts: pd.DataFrame, buckets: int) -> pd.DataFrame:
    """Partial gold rows from alerts in the gold input shape (one row per object)."""
    df = alerts.reset_index(drop=True)
    good = df["quality_ok"].fillna(False).astype(bool)
    rad_ra, rad_dec = np.radians(df["ra"].astype(float)), np.radians(df["dec"].astype(float))
    w = good.astype(float)
    part = pd.DataFrame(
        {
            "survey": df["survey"],
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
            "sum_x": np.cos(rad_dec) * np.cos(rad_ra) * w,
            "sum_y": np.cos(rad_dec) * np.sin(rad_ra) * w,
            "sum_z": np.sin(rad_dec) * w,
            "last_class": df["class"] if "class" in df else None,
            "last_class_version": df["class_version"] if "class_version" in df else None,
            "last_class_jd": df["jd"].where(df["class"].notna()) if "class" in df else np.nan,
        }
    )
    for band in BANDS:
        sel = good & (df["band"] == band) & df["mag"].notna()
        part[f"last_mag_{band}"] = df["mag"].where(sel)
        part[f"last_magerr_{band}"] = df["magerr"].where(sel)
        part[f"last_jd_{band}"] = df["jd"].where(sel)
    return reduce_partials(part, buckets)


def _latest(df: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Per object, `columns` from the row with the largest `key` (ties: the largest last_candid)."""
    rows = df.dropna(subset=[key])
    if rows.empty:
        return pd.DataFrame(columns=[*KEYS, *columns]).set_index(KEYS)
    rows = rows.sort_values([key, "last_candid"], kind="stable")
    return rows.groupby(KEYS, sort=False).tail(1).set_index(KEYS)[columns]


def reduce_partials(parts: pd.DataFrame, buckets: int) -> pd.DataFrame:
    """Fold any number of partial rows per object into one row per object."""
    parts = parts.reset_index(drop=True)
    g = parts.groupby(KEYS, sort=False)
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
    class_columns = ["last_class", "last_class_version", "last_class_jd"]
    for name in class_columns:  # partial rows of an older gold table may lack the newer ones
        if name not in parts:
            parts[name] = np.nan if name == "last_class_jd" else None
    classes = parts.dropna(subset=["last_class"])
    if "last_class_jd" in classes:
        classes = classes.assign(last_class_jd=classes["last_class_jd"].fillna(classes["last_jd"]))
    latest = _latest(classes, "last_class_jd", class_columns) if len(classes) else None
    for name in class_columns:
        out[name] = latest[name] if latest is not None else None
    for band in BANDS:
        cols = [f"last_mag_{band}", f"last_magerr_{band}", f"last_jd_{band}"]
        out = out.join(_latest(parts, f"last_jd_{band}", cols))
    norm = np.hypot(out["sum_x"], out["sum_y"])
    has_pos = (norm > 0) | (out["sum_z"] != 0)
    ra = np.degrees(np.arctan2(out["sum_y"], out["sum_x"])) % 360.0
    out["ra"] = np.where(has_pos, np.where(ra >= 360.0 - 1e-9, 0.0, ra), np.nan)
    out["dec"] = np.where(has_pos, np.degrees(np.arctan2(out["sum_z"], norm)), np.nan)
    out["color_g_r"] = out["last_mag_g"] - out["last_mag_r"]
    out["color_dt"] = (out["last_jd_g"] - out["last_jd_r"]).abs()
    out["updated_at"] = pd.Timestamp.now(tz="UTC")
    out = out.reset_index()
    out["bucket"] = bucket_of(out["survey"], out["objectId"], buckets)
    return out


def to_gold_table(rows: pd.DataFrame) -> pa.Table:
    """Reduced rows as an Arrow table in the gold schema."""
    schema = gold_schema()
    frame = rows.reindex(columns=schema.names)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
