"""In-memory HEALPix index of one catalog: the nearest catalog row per position, in numpy, no Spark.

The streaming path labels every alert of a micro-batch with its best match per local catalog, so a
batch must cost what it holds. The catalog's rows are sorted by their nested pixel at an order whose
pixels are several times wider than the radius (`healpix.order_for_radius`); a batch's positions look
in their pixel and its neighbours with `searchsorted`, candidate pairs are expanded with `repeat`, and
the exact separation (Vincenty, as astropy computes it) picks the nearest within the radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siskin.science.xmatch import healpix


def separation_arcsec(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> np.ndarray:
    """Angular separation in arcsec (Vincenty formula, as `astropy.coordinates.angular_separation`)."""
    lon1, lat1, lon2, lat2 = (np.radians(a) for a in (ra1, dec1, ra2, dec2))
    dlon = lon2 - lon1
    s_dlon, c_dlon = np.sin(dlon), np.cos(dlon)
    s1, c1, s2, c2 = np.sin(lat1), np.cos(lat1), np.sin(lat2), np.cos(lat2)
    num1 = c2 * s_dlon
    num2 = c1 * s2 - s1 * c2 * c_dlon
    denominator = s1 * s2 + c1 * c2 * c_dlon
    return np.degrees(np.arctan2(np.hypot(num1, num2), denominator)) * 3600.0


@dataclass(frozen=True)
class Around:
    """The finite positions' pixel and neighbours at one order: (index among finite positions, pixel)."""

    order: int
    who: np.ndarray
    pixels: np.ndarray
    distinct: np.ndarray  # the distinct pixels, sorted: each is searched once, in order (cache friendly)
    back: np.ndarray  # pixels == distinct[back]

    @classmethod
    def of(cls, ra_deg: np.ndarray, dec_deg: np.ndarray, order: int) -> Around:
        """Pixel blocks of the finite positions among `ra_deg`, `dec_deg`."""
        ok = np.isfinite(ra_deg) & np.isfinite(dec_deg)
        who, pix = healpix.with_neighbours(ra_deg[ok], dec_deg[ok], order)
        distinct, back = np.unique(pix, return_inverse=True)
        return cls(order, who, pix, distinct, back)


@dataclass(frozen=True)
class SkyIndex:
    """A catalog's positions sorted by HEALPix pixel at `order`; `rows` maps back to the catalog's rows."""

    order: int
    radius_arcsec: float
    pixels: np.ndarray  # int64, sorted
    ra: np.ndarray  # degrees, in pixel order
    dec: np.ndarray
    rows: np.ndarray  # int64: row of the source table for each sorted entry

    @classmethod
    def build(
        cls, ra_deg: np.ndarray, dec_deg: np.ndarray, radius_arcsec: float, pix29: np.ndarray | None = None
    ) -> SkyIndex:
        """Index positions for matches within `radius_arcsec` (the radius fixes the pixel order).

        `pix29`: the positions' order-29 pixels when already known (catalog tables store them).
        """
        order = healpix.order_for_radius(radius_arcsec)
        ra = np.asarray(ra_deg, dtype=np.float64)
        dec = np.asarray(dec_deg, dtype=np.float64)
        pix = healpix.pixels(ra, dec, order) if pix29 is None else healpix.coarser(pix29, order)
        by_pixel = np.argsort(pix, kind="stable")
        return cls(order, float(radius_arcsec), pix[by_pixel], ra[by_pixel], dec[by_pixel], by_pixel)

    def __len__(self) -> int:
        return len(self.rows)

    def nearest(
        self, ra_deg: np.ndarray, dec_deg: np.ndarray, around: Around | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(catalog row or -1, separation in arcsec or NaN) of the nearest entry within the radius.

        Equal separations go to the lower catalog row. Positions that are not finite match nothing.
        `around`: the positions' pixel blocks at this index's order, when several indexes share them.
        """
        ra = np.asarray(ra_deg, dtype=np.float64)
        dec = np.asarray(dec_deg, dtype=np.float64)
        n = len(ra)
        best = np.full(n, -1, dtype=np.int64)
        best_sep = np.full(n, np.nan)
        ok = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        if len(ok) == 0 or len(self.rows) == 0:
            return best, best_sep
        if around is None or around.order != self.order:
            around = Around.of(ra, dec, self.order)
        who = ok[around.who]
        lo = np.searchsorted(self.pixels, around.distinct, side="left")[around.back]
        hi = np.searchsorted(self.pixels, around.distinct, side="right")[around.back]
        counts = hi - lo
        has = counts > 0
        who, lo, counts = who[has], lo[has], counts[has]
        total = int(counts.sum())
        if total == 0:
            return best, best_sep
        alert = np.repeat(who, counts)
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        entry = starts + np.arange(total, dtype=np.int64)
        sep = separation_arcsec(ra[alert], dec[alert], self.ra[entry], self.dec[entry])
        inside = sep <= self.radius_arcsec
        alert, entry, sep = alert[inside], entry[inside], sep[inside]
        if len(alert) == 0:
            return best, best_sep
        rows = self.rows[entry]
        order = np.lexsort((rows, sep, alert))  # per alert: smallest separation, then lowest row
        alert, rows, sep = alert[order], rows[order], sep[order]
        first = np.ones(len(alert), dtype=bool)
        first[1:] = alert[1:] != alert[:-1]
        best[alert[first]] = rows[first]
        best_sep[alert[first]] = sep[first]
        return best, best_sep
