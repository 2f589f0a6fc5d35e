"""The sky and the telescope: nights, a ZTF-like field grid, and each night's exposures (visits).

Fields tile the sky north of dec -31 in 7-degree cells like ZTF's primary grid; each field splits into
64 readout channels (16 CCDs x 4 quadrants). A night observes the fields near the anti-solar meridian,
most in r and g, a few in i, at distinct exposure times between 03:00 and 12:30 UTC (Palomar night).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from siskin.errors import ConfigurationError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

NID_EPOCH = dt.date(2017, 1, 1)  # ZTF night id (nid) 0
JD_NID_EPOCH = 2457754.5  # JD of 2017-01-01 00:00 UTC
NIGHT_START_H, NIGHT_END_H = 3.0, 12.5
EXPOSURE_D = 37.0 / 86400.0  # one exposure every 37 s
FIELD_SIZE_DEG = 7.0
DEC_MIN = -31.0
FIRST_FIELD = 245
VISIT_PROBABILITY = 0.42  # an observable field is visited on ~2 nights in 5 (ZTF: every 2-3 nights)
CCD_PIXELS = (3072, 3080)


def night_date(night: int) -> dt.date:
    """The calendar date of a night given as YYYYMMDD (UTC date of the morning, as ZTF names nights)."""
    try:
        return dt.date(night // 10000, night // 100 % 100, night % 100)
    except ValueError as exc:
        raise ConfigurationError(f"night {night} is not a YYYYMMDD date (e.g. 20231018)") from exc


def night_id(night: int) -> int:
    """ZTF's `nid`: days since 2017-01-01."""
    return (night_date(night) - NID_EPOCH).days


def night_of(nid: int) -> int:
    """The YYYYMMDD night for a night id."""
    d = NID_EPOCH + dt.timedelta(days=nid)
    return d.year * 10000 + d.month * 100 + d.day


def jd_midnight(nid: int) -> float:
    """JD at 00:00 UTC of the night's date."""
    return JD_NID_EPOCH + nid


def year_of_jd(jd: F64) -> npt.NDArray[np.int64]:
    """UTC calendar year of JDs (objectId prefixes)."""
    days = np.floor(np.asarray(jd) - JD_NID_EPOCH).astype("timedelta64[D]")
    return (np.datetime64("2017-01-01") + days).astype("datetime64[Y]").astype(np.int64) + 1970


@dataclass(frozen=True)
class FieldGrid:
    """Dec bands of 7 degrees, each cut in RA into cells of about 7 degrees."""

    first: I64  # field index of each band's first cell
    n_ra: I64  # cells per band

    @property
    def n_fields(self) -> int:
        return int(self.n_ra.sum())

    def locate(self, ra: F64, dec: F64) -> tuple[I64, F64, F64]:
        """Field id and the fractional position (u along RA, v along dec) inside it."""
        y = (np.asarray(dec) - DEC_MIN) / FIELD_SIZE_DEG
        band = np.clip(np.floor(y), 0, len(self.n_ra) - 1).astype(np.int64)
        x = np.mod(ra, 360.0) / 360.0 * self.n_ra[band]
        cell = np.minimum(np.floor(x), self.n_ra[band] - 1).astype(np.int64)
        u = np.clip(x - cell, 0.0, 0.999999)
        v = np.clip(y - band, 0.0, 0.999999)
        return FIRST_FIELD + self.first[band] + cell, u, v

    def centres(self) -> tuple[F64, F64]:
        """RA and dec of each field's centre, indexed by field - FIRST_FIELD."""
        band = np.repeat(np.arange(len(self.n_ra)), self.n_ra)
        cell = np.arange(self.n_fields) - self.first[band]
        ra = (cell + 0.5) * 360.0 / self.n_ra[band]
        dec = DEC_MIN + (band + 0.5) * FIELD_SIZE_DEG
        return ra, np.minimum(dec, 89.0)


@lru_cache(maxsize=1)
def field_grid() -> FieldGrid:
    """The fixed field grid."""
    lows = np.arange(DEC_MIN, 90.0, FIELD_SIZE_DEG)
    mid = np.minimum(lows + FIELD_SIZE_DEG / 2, 88.0)
    n_ra = np.maximum(1, np.floor(360.0 * np.cos(np.radians(mid)) / FIELD_SIZE_DEG)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(n_ra)[:-1]]).astype(np.int64)
    return FieldGrid(first=first, n_ra=n_ra)


def readout(u: F64, v: F64) -> tuple[I64, F64, F64]:
    """Readout channel (rcid 0-63) and pixel position inside it for a position inside a field."""
    gx, gy = np.asarray(u) * 8.0, np.asarray(v) * 8.0
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    ccd = (iy // 2) * 4 + ix // 2  # 0-15
    quadrant = (iy % 2) * 2 + (ix % 2)  # 0-3
    xpos = (gx - ix) * CCD_PIXELS[0] + 1.0
    ypos = (gy - iy) * CCD_PIXELS[1] + 1.0
    return ccd * 4 + quadrant, xpos, ypos


def antisolar_ra(jd: float) -> float:
    """RA of the anti-solar point (the meridian at local midnight), from the Sun's mean longitude."""
    lon = np.radians(280.46 + 0.9856474 * (jd - 2451545.0))
    eps = np.radians(23.44)
    sun_ra = np.degrees(np.arctan2(np.cos(eps) * np.sin(lon), np.cos(lon)))
    return float((sun_ra + 180.0) % 360.0)


@dataclass(frozen=True)
class Visits:
    """One row per exposure of one field in one filter during a night, sorted by time."""

    vid: I64  # nid * 10_000 + row: unique across nights
    field: I64
    fid: I64
    jd: F64
    diffmaglim: F64
    seeing: F64  # FWHM [pixels]
    magzpsci: F64
    programpi: I64  # 0 Kulkarni, 1 Prince

    def __len__(self) -> int:
        return len(self.vid)


@lru_cache(maxsize=64)
def night_visits(seed: int, nid: int) -> Visits:
    """The night's exposures: observable fields, visited at random, in r and g (rarely i)."""
    rng = np.random.default_rng([seed, nid, 11])
    ra_c, _ = field_grid().centres()
    midnight = jd_midnight(nid)
    hour_angle = (ra_c - antisolar_ra(midnight + 0.33) + 180.0) % 360.0 - 180.0
    visited = (np.abs(hour_angle) < 105.0) & (rng.random(len(ra_c)) < VISIT_PROBABILITY)
    fields = np.flatnonzero(visited)
    transit_h = 7.8 + hour_angle[fields] / 15.0 + rng.normal(0.0, 0.6, len(fields))
    takes: list[tuple[I64, I64, F64]] = []
    for band, prob, delay_h in ((2, 0.95, 0.0), (1, 0.85, 0.8), (3, 0.07, 0.4)):
        pick = rng.random(len(fields)) < prob
        if band == 2:
            pick |= rng.random(len(fields)) < 0.5  # every visited field gets r or g
        delay = delay_h * rng.uniform(0.6, 1.4, len(fields))
        takes.append((fields[pick], np.full(pick.sum(), band), (transit_h + delay)[pick]))
    field = np.concatenate([t[0] for t in takes])
    fid = np.concatenate([t[1] for t in takes])
    hours = np.clip(np.concatenate([t[2] for t in takes]), NIGHT_START_H, NIGHT_END_H - 0.05)
    order = np.argsort(hours, kind="stable")
    field, fid, hours = field[order], fid[order], hours[order]
    n_slots = int((NIGHT_END_H - NIGHT_START_H) / 24.0 / EXPOSURE_D)
    slot = _distinct_slots(((hours - NIGHT_START_H) / 24.0 / EXPOSURE_D).astype(np.int64), n_slots)
    n = len(field)
    limit = {1: 20.55, 2: 20.45, 3: 19.9}
    depth = np.array([limit[int(f)] for f in fid]) + rng.normal(0.0, 0.3, n)
    zp = np.where(fid == 1, 26.33, np.where(fid == 2, 26.22, 25.85)) + rng.normal(0.0, 0.07, n)
    return Visits(
        vid=nid * 10_000 + np.arange(n, dtype=np.int64),
        field=FIRST_FIELD + field.astype(np.int64),
        fid=fid.astype(np.int64),
        jd=midnight + NIGHT_START_H / 24.0 + (slot + rng.uniform(0.0, 0.05, n)) * EXPOSURE_D,
        diffmaglim=np.clip(depth, 19.0, 21.3),
        seeing=np.clip(rng.lognormal(np.log(2.2), 0.22, n), 1.1, 4.5),
        magzpsci=zp,
        programpi=(rng.random(n) < 0.04).astype(np.int64),
    )


def _distinct_slots(desired: I64, n_slots: int) -> I64:
    """Nearest strictly increasing exposure slots inside [0, n_slots) for sorted desired slots."""
    n = len(desired)
    if n > n_slots:
        raise ConfigurationError(f"{n} exposures do not fit in one night of {n_slots} slots")
    i = np.arange(n)
    slots = np.maximum.accumulate(np.maximum(desired, 0) - i) + i
    return np.minimum(slots, n_slots - n + i)
