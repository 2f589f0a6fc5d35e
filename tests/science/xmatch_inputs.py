"""Real inputs for the cross-match tests: alert positions read with fastavro, catalogs from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def ztf_positions(alert_dir: Path) -> pa.Table:
    """(survey, candid, objectId, ra, dec, night) of every real ZTF alert, one row per candid."""
    rows: dict[int, tuple[str, float, float]] = {}
    for path in sorted(alert_dir.rglob("*.avro")):
        try:
            with path.open("rb") as handle:
                for record in fastavro.reader(handle):
                    c = record["candidate"]
                    rows[int(c["candid"])] = (str(record["objectId"]), float(c["ra"]), float(c["dec"]))
        except Exception:  # noqa: BLE001 - a file fastavro cannot read is not a position source
            continue
    return _table("ztf", rows)


def rubin_positions(lsst_dir: Path) -> pa.Table:
    """Positions of the real Rubin alerts (diaSource ra/dec), keyed by diaSourceId."""
    rows: dict[int, tuple[str, float, float]] = {}
    for path in sorted(lsst_dir.rglob("*.avro")):
        if "sample_data" in path.parts:  # generated, not real
            continue
        try:
            with path.open("rb") as handle:
                for record in fastavro.reader(handle):
                    s = record["diaSource"]
                    rows[int(s["diaSourceId"])] = (str(s["diaObjectId"]), float(s["ra"]), float(s["dec"]))
        except Exception:  # noqa: BLE001
            continue
    return _table("rubin", rows)


def _table(survey: str, rows: dict[int, tuple[str, float, float]]) -> pa.Table:
    keys = sorted(rows)
    return pa.table(
        {
            "survey": pa.array([survey] * len(keys)),
            "candid": pa.array(keys, pa.int64()),
            "objectId": pa.array([rows[k][0] for k in keys]),
            "ra": pa.array([rows[k][1] for k in keys], pa.float64()),
            "dec": pa.array([rows[k][2] for k in keys], pa.float64()),
            "night": pa.array([20200101] * len(keys), pa.int32()),
        }
    )


def near(catalog: Path, ra_col: str, dec_col: str, positions: pa.Table, degrees: float) -> pa.Table:
    """The catalog's rows within `degrees` of any position (a real, smaller slice of a big catalog)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky

    table = pq.read_table(catalog)
    cat = SkyCoord(table[ra_col].to_numpy() * u.deg, table[dec_col].to_numpy() * u.deg)
    pts = SkyCoord(positions["ra"].to_numpy() * u.deg, positions["dec"].to_numpy() * u.deg)
    _, idx, _, _ = search_around_sky(pts, cat, degrees * u.deg)
    return table.take(pa.array(np.unique(idx)))
