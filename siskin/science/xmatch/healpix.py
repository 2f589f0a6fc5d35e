"""HEALPix pixel keys (nested scheme, cdshealpix): the partitioning that makes the spatial join scale.

Catalog rows store their pixel at the finest order (29); the pixel at any coarser order is a right
shift of it, so one stored column serves every radius. An alert is looked for in its own pixel and its
8 neighbours at an order whose pixels are several times wider than the match radius, so matches across
pixel borders (and at the poles and the RA wrap) are not lost.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
from cdshealpix import nested

from siskin.errors import ConfigurationError

MAX_ORDER = 29
# Pixel side at an order must be at least this many radii: HEALPix pixels are not square, and the
# narrowest is well over a quarter of the mean side, so the 3x3 block always covers the radius.
SIDE_OVER_RADIUS = 4.0


def mean_side_arcsec(order: int) -> float:
    """Mean pixel side at `order` (square root of the pixel area)."""
    return math.degrees(math.sqrt(4 * math.pi / (12 * 4**order))) * 3600.0


def order_for_radius(radius_arcsec: float) -> int:
    """The finest order whose pixels are wide enough that an alert's pixel and neighbours hold every match."""
    if not radius_arcsec > 0:
        raise ConfigurationError(f"cross-match radius must be positive, got {radius_arcsec}")
    for order in range(MAX_ORDER, -1, -1):
        if mean_side_arcsec(order) >= SIDE_OVER_RADIUS * radius_arcsec:
            return order
    raise ConfigurationError(
        f"cross-match radius {radius_arcsec} arcsec is too large for a pixel join "
        f"(at most {mean_side_arcsec(0) / SIDE_OVER_RADIUS:.0f} arcsec)"
    )


def pixels(ra_deg: np.ndarray, dec_deg: np.ndarray, order: int = MAX_ORDER) -> np.ndarray:
    """Nested pixel of each position at `order`, as int64."""
    ra = np.mod(np.asarray(ra_deg, dtype=np.float64), 360.0)
    dec = np.clip(np.asarray(dec_deg, dtype=np.float64), -90.0, 90.0)
    if ra.size == 0:
        return np.zeros(0, dtype=np.int64)
    return nested.lonlat_to_healpix(ra * u.deg, dec * u.deg, order).astype(np.int64)


def coarser(pix29: np.ndarray, order: int) -> np.ndarray:
    """Pixels at order 29 taken to a coarser order (a nested pixel's parent is a right shift)."""
    return np.right_shift(np.asarray(pix29, dtype=np.int64), 2 * (MAX_ORDER - order))


def with_neighbours(ra_deg: np.ndarray, dec_deg: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(row index, pixel) for each position's pixel and its distinct neighbours at `order`."""
    n = len(ra_deg)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    own = pixels(ra_deg, dec_deg, order)
    block = np.sort(nested.neighbours(own.astype(np.uint64), order).astype(np.int64), axis=1)
    keep = block >= 0  # -1: no neighbour there (the 8 base-pixel corners)
    keep[:, 1:] &= block[:, 1:] != block[:, :-1]
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], block.shape)
    return rows[keep], block[keep]
