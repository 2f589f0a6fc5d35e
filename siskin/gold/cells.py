"""Sky cells: where a gold object's row lives, so a micro-batch touches only the cells its alerts fall in.

A survey observes one field at a time (a Rubin visit covers ~10 deg², a ZTF exposure ~47 deg²), so the
objects a micro-batch updates are close together on the sky, while their identifiers are not. Rubin's own
alert database partitions its objects the same way. The sky is cut into dec zones `CELL_DEG` high, each
cut into ra cells about `CELL_DEG` wide (4,584 cells of ~9 deg²). An object's row is placed, once, in the
cell of one of its alert positions and stays there; all alerts of an object lie within the survey's
association radius (ZTF 1.5", Rubin 1") of each other, so the row is always found among the cells within
`SEARCH_MARGIN_ARCSEC` of any of its alerts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CELL_DEG = 3.0
SEARCH_MARGIN_ARCSEC = 10.0

N_ZONES = int(round(180.0 / CELL_DEG))
_ZONE_CENTRES = -90.0 + (np.arange(N_ZONES) + 0.5) * CELL_DEG
RA_CELLS = np.maximum(1, np.round(360.0 * np.cos(np.radians(_ZONE_CENTRES)) / CELL_DEG)).astype(np.int64)
ZONE_OFFSETS = np.concatenate([[0], np.cumsum(RA_CELLS)[:-1]]).astype(np.int64)
N_CELLS = int(RA_CELLS.sum())


def cell_of(ra: npt.ArrayLike, dec: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """The cell holding each position (degrees; ra wraps, dec is clipped to the poles)."""
    ra_deg = np.mod(np.asarray(ra, np.float64), 360.0)
    dec_deg = np.clip(np.asarray(dec, np.float64), -90.0, 90.0)
    zone = np.clip(np.floor((dec_deg + 90.0) / CELL_DEG).astype(np.int64), 0, N_ZONES - 1)
    n_ra = RA_CELLS[zone]
    column = np.minimum(np.floor(ra_deg / 360.0 * n_ra).astype(np.int64), n_ra - 1)
    return (ZONE_OFFSETS[zone] + column).astype(np.int32)


def cells_near(
    ra: npt.ArrayLike, dec: npt.ArrayLike, margin_arcsec: float = SEARCH_MARGIN_ARCSEC
) -> npt.NDArray[np.int32]:
    """Every cell within `margin_arcsec` of any of the positions (sorted, unique).

    The margin is far smaller than a cell, so the cells of the four corners of each position's
    margin box are all the cells the box meets.
    """
    ra_deg = np.asarray(ra, np.float64).ravel()
    dec_deg = np.asarray(dec, np.float64).ravel()
    ok = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    ra_deg, dec_deg = ra_deg[ok], dec_deg[ok]
    if ra_deg.size == 0:
        return np.empty(0, np.int32)
    margin = margin_arcsec / 3600.0
    lo, hi = np.clip(dec_deg - margin, -90.0, 90.0), np.clip(dec_deg + margin, -90.0, 90.0)
    widest = np.cos(np.radians(np.maximum(np.abs(lo), np.abs(hi))))
    dra = np.where(widest > margin / 180.0, margin / np.maximum(widest, 1e-12), 180.0)
    found = [cell_of(ra_deg + sr * dra, d) for sr in (-1.0, 1.0) for d in (lo, hi)]
    whole_zone = dra >= 180.0  # at a pole: every cell of the zones the box meets
    if whole_zone.any():
        for d in (lo[whole_zone], hi[whole_zone]):
            zone = np.clip(np.floor((d + 90.0) / CELL_DEG).astype(np.int64), 0, N_ZONES - 1)
            for z in np.unique(zone):
                found.append(np.arange(ZONE_OFFSETS[z], ZONE_OFFSETS[z] + RA_CELLS[z], dtype=np.int32))
    return np.unique(np.concatenate(found)).astype(np.int32)


def cell_bounds(cell: int) -> tuple[float, float, float, float]:
    """(ra_min, ra_max, dec_min, dec_max) of one cell, in degrees."""
    zone = int(np.searchsorted(ZONE_OFFSETS, cell, side="right") - 1)
    n_ra = int(RA_CELLS[zone])
    column = cell - int(ZONE_OFFSETS[zone])
    dec_min = -90.0 + zone * CELL_DEG
    return column * 360.0 / n_ra, (column + 1) * 360.0 / n_ra, dec_min, min(90.0, dec_min + CELL_DEG)
