"""The simulated sky: objects of several classes and their light curves, all pure functions of a seed.

Persistent objects (RR Lyrae, long-period variables, AGN) exist forever; supernovae and microlensing
events are born in daily slots (a fixed number per day), so the objects alive on any night, and their
magnitudes at any epoch, follow from (seed, n_alerts, night) alone. Class sizes scale with the alert rate
asked for, using yields (alerts per object-night, or per transient lifetime) measured on this model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from siskin.simulate._random import normal, uniform
from siskin.simulate.schedule import DEC_MIN, field_grid, jd_midnight, readout

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Table = dict[str, np.ndarray]


class Kind(IntEnum):
    """What produced an alert; the simulator's ground truth (not written into the alert)."""

    RRLYR = 0
    LPV = 1
    AGN = 2
    SN = 3
    ULENS = 4
    ASTEROID = 5
    BOGUS = 6


# Share of a night's alerts per class, and the yield that turns a share into a population size:
# alerts per object and night (persistent classes, asteroids) or per object lifetime (SN, microlensing).
SHARE = {Kind.RRLYR: 0.16, Kind.LPV: 0.12, Kind.AGN: 0.12, Kind.SN: 0.27, Kind.ULENS: 0.03,
         Kind.ASTEROID: 0.14, Kind.BOGUS: 0.16}
YIELD = {Kind.RRLYR: 0.25, Kind.LPV: 0.45, Kind.AGN: 0.1, Kind.SN: 12.0, Kind.ULENS: 4.0,
         Kind.ASTEROID: 0.5}
MARGIN = 1.2  # draw this many more real candidates than needed; the surplus is not alerted
KEY_BASE = {Kind.RRLYR: 0, Kind.LPV: 300_000_000, Kind.AGN: 600_000_000, Kind.SN: 1_000_000_000,
            Kind.ULENS: 2_000_000_000, Kind.BOGUS: 3_000_000_000, Kind.ASTEROID: 4_000_000_000}
ORBIT_BASE = 5_000_000_000  # asteroid orbits; each asteroid detection gets a new objectId key
SLOT = 100_000  # keys per day slot
SLOT_DAYS = {Kind.SN: (-280, 0), Kind.ULENS: (-180, 180)}
ZP = 25.0  # internal flux zero point: flux = 10 ** (-0.4 * (mag - ZP))
ZTF_START_JD = 2458194.5  # 2018-03-17, start of ZTF survey operations


def flux(mag: F64) -> F64:
    """Flux on the internal zero point."""
    return np.power(10.0, -0.4 * (np.asarray(mag) - ZP))


@dataclass(frozen=True)
class Population:
    """The simulated sky for one seed, sized so each night yields about `n_alerts` alerts."""

    seed: int
    n_alerts: int

    def expected(self, kind: Kind) -> float:
        """Objects (persistent) or objects born per day (transients) of this class."""
        return SHARE[kind] * self.n_alerts * MARGIN / YIELD[kind]


@lru_cache(maxsize=8)
def persistent(pop: Population) -> Table:
    """RR Lyrae, long-period variables and AGN: fixed for the population."""
    parts = []
    for kind in (Kind.RRLYR, Kind.LPV, Kind.AGN):
        count = int(np.ceil(pop.expected(kind)))
        parts.append(draw(pop.seed, kind, KEY_BASE[kind] + np.arange(count, dtype=np.int64)))
    return concat(parts)


def objects_for_night(pop: Population, nid: int) -> Table:
    """Every object that may be seen on night `nid`: persistent ones, live transients, asteroids."""
    parts = [persistent(pop)]
    for kind in (Kind.SN, Kind.ULENS):
        lo, hi = SLOT_DAYS[kind]
        days = np.arange(nid + lo, nid + hi + 1, dtype=np.int64)
        rate = pop.expected(kind)
        counts = int(rate) + (uniform(pop.seed, 901 + kind, days) < rate - int(rate))
        day = np.repeat(days, counts)
        within = np.arange(len(day)) - np.repeat(np.cumsum(counts) - counts, counts)
        parts.append(draw(pop.seed, kind, KEY_BASE[kind] + day * SLOT + within, day=day))
    orbits = ORBIT_BASE + np.arange(int(np.ceil(pop.expected(Kind.ASTEROID))), dtype=np.int64)
    parts.append(draw(pop.seed, Kind.ASTEROID, orbits, jd=jd_midnight(nid) + 0.33))
    table = concat(parts)
    return take(table, np.flatnonzero(table["dec"] > DEC_MIN + 0.5))


def draw(seed: int, kind: Kind, keys: I64, *, day: I64 | None = None, jd: float = 0.0) -> Table:
    """Draw the properties of objects of one class from their keys (pure: same key, same object)."""
    n = len(keys)

    def u(stream: int) -> F64:
        return uniform(seed, 100 * int(kind) + stream, keys)

    sin_lo = np.sin(np.radians(DEC_MIN + 1.0))
    t = {
        "key": keys, "hid": keys, "kind": np.full(n, int(kind), dtype=np.int64),
        "ra": 360.0 * u(1), "dec": np.degrees(np.arcsin(sin_lo + (1.0 - sin_lo) * u(2))),
        "sgscore": 0.85 + 0.15 * u(3), "distnr": 0.04 + 0.3 * u(4),
        "jdstart": ZTF_START_JD + 650.0 * u(5), "ndet_rate": 0.05 + 0.45 * u(6), "cov_ratio": 1.5 + 2.5 * u(7),
        "p1": np.zeros(n), "p2": np.zeros(n), "t0": np.zeros(n),
    }
    if kind is Kind.RRLYR:
        t |= {"m0": 14.5 + 5.0 * u(10), "color": 0.15 + 0.2 * u(11), "p1": 0.3 + 0.6 * u(12),
              "p2": 0.3 + 0.7 * u(13)}
        t["t0"] = t["p1"] * u(14)
    elif kind is Kind.LPV:
        t |= {"m0": 12.0 + 6.0 * u(10), "color": 1.0 + 1.0 * u(11), "p1": 80.0 + 420.0 * u(12),
              "p2": 0.5 + 3.0 * u(13)}
        t["t0"] = t["p1"] * u(14)
    elif kind is Kind.AGN:
        t |= {"m0": 17.0 + 3.0 * u(10), "color": 0.2 + 0.3 * u(11), "p1": 50.0 + 350.0 * u(12),
              "p2": 0.08 + 0.25 * u(13), "sgscore": 0.2 + 0.7 * u(3), "distnr": 0.1 + 0.4 * u(4)}
    elif kind is Kind.SN:
        assert day is not None
        peak = np.clip(19.0 + 0.6 * normal(seed, 100 * int(kind) + 10, keys), 16.5, 20.4)
        rise = 12.0 + 7.0 * u(12)
        t |= {"m0": peak, "color": -0.15 + 0.3 * u(11), "p1": rise, "p2": 0.02 + 0.025 * u(13),
              "t0": jd_midnight(0) + day + u(14), "sgscore": 0.25 * u(3), "distnr": 0.3 + 2.7 * u(4),
              "magnr": 18.0 + 3.5 * u(15)}
        t["jdstart"] = t["t0"] + rise * np.power(10.0, -(20.5 - peak) / 5.0)
    elif kind is Kind.ULENS:
        assert day is not None
        t |= {"m0": 16.0 + 4.2 * u(10), "color": 0.3 + 0.9 * u(11), "p1": 10.0 + 50.0 * u(12),
              "p2": 0.02 + 0.6 * u(13), "t0": jd_midnight(0) + day + u(14)}
        t["jdstart"] = t["t0"] - 1.5 * t["p1"]
    elif kind is Kind.ASTEROID:
        lam = np.radians(360.0 * u(1) - (0.08 + 0.25 * u(12)) * (jd - 2460000.5))
        beta = np.radians(np.clip(8.0 * normal(seed, 100 * int(kind) + 2, keys), -40.0, 40.0))
        t["ra"], t["dec"] = ecliptic_to_equatorial(lam, beta)
        t |= {"m0": 17.0 + 4.3 * np.sqrt(u(10)), "color": 0.4 + 0.25 * u(11), "sgscore": u(3),
              "distnr": 2.0 + 15.0 * u(4), "magnr": 16.0 + 6.5 * u(15), "p1": 0.08 + 0.25 * u(12),
              "p2": 1.0 * u(1), "t0": np.full(n, jd)}
    t.setdefault("magnr", t["m0"])
    field, fu, fv = field_grid().locate(t["ra"], t["dec"])
    t["field"] = field
    t["rcid"], t["xpos"], t["ypos"] = readout(fu, fv)
    return t


def ecliptic_to_equatorial(lam: F64, beta: F64) -> tuple[F64, F64]:
    """RA and dec [deg] from ecliptic longitude and latitude [rad]."""
    eps = np.radians(23.4393)
    dec = np.arcsin(np.sin(beta) * np.cos(eps) + np.cos(beta) * np.sin(eps) * np.sin(lam))
    ra = np.arctan2(np.sin(lam) * np.cos(eps) - np.tan(beta) * np.sin(eps), np.cos(lam))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def asteroid_position(objs: Table, jd: F64) -> tuple[F64, F64]:
    """Where asteroids are at `jd` (they move by ~0.1-0.3 deg/day along the ecliptic)."""
    eps = np.radians(23.4393)
    ra0, dec0 = np.radians(objs["ra"]), np.radians(objs["dec"])
    lam0 = np.arctan2(np.sin(ra0) * np.cos(eps) + np.tan(dec0) * np.sin(eps), np.cos(ra0))
    beta = np.arcsin(np.sin(dec0) * np.cos(eps) - np.cos(dec0) * np.sin(eps) * np.sin(ra0))
    lam = lam0 - np.radians(objs["p1"] * (jd - objs["t0"]))
    return ecliptic_to_equatorial(lam, beta)


_BAND_SHIFT = {1: 1.0, 2: 0.0, 3: -0.5}  # colour multiple added to r for g, r, i
_AMP_SCALE = {1: 1.3, 2: 1.0, 3: 0.75}


def magnitudes(seed: int, objs: Table, jd: F64, fid: I64) -> tuple[F64, F64]:
    """True and reference (template) magnitudes of object rows at epochs `jd` in filters `fid`.

    The reference is what the template image holds: the mean star for variables, nothing (mag inf)
    for supernovae and asteroids; an alert measures the difference of the two fluxes.
    """
    kind, m0, p1, p2, t0 = objs["kind"], objs["m0"], objs["p1"], objs["p2"], objs["t0"]
    shift = np.choose(fid - 1, [_BAND_SHIFT[1], _BAND_SHIFT[2], _BAND_SHIFT[3]]) * objs["color"]
    amp = np.choose(fid - 1, [_AMP_SCALE[1], _AMP_SCALE[2], _AMP_SCALE[3]])
    base = m0 + shift
    mag = base.copy()
    ref = base.copy()
    is_k = {k: kind == int(k) for k in Kind}
    if is_k[Kind.RRLYR].any():
        phase = np.mod((jd - t0) / np.where(p1 > 0, p1, 1.0), 1.0)
        saw = np.where(phase < 0.15, phase / 0.15, 1.0 - (phase - 0.15) / 0.85)
        mag = np.where(is_k[Kind.RRLYR], base + amp * p2 * (0.5 - saw), mag)
    if is_k[Kind.LPV].any():
        cycle = np.sin(2.0 * np.pi * (jd - t0) / np.where(p1 > 0, p1, 1.0))
        mag = np.where(is_k[Kind.LPV], base + 0.5 * amp * p2 * cycle, mag)
    if is_k[Kind.AGN].any():
        mag = np.where(is_k[Kind.AGN], base + amp * p2 * _drw(seed, objs["key"], jd, p1), mag)
    sn = is_k[Kind.SN]
    if sn.any():
        age = jd - t0
        redden = np.where(fid == 1, 0.012, np.where(fid == 3, -0.004, 0.0)) * np.maximum(age - p1, 0.0)
        fade = np.where(fid == 1, 1.4, 1.0) * p2
        rising = base - 5.0 * np.log10(np.clip(age, 1e-3, None) / np.where(p1 > 0, p1, 1.0))
        curve = np.where(age < p1, rising, base + fade * (age - p1) + redden)
        mag = np.where(sn, np.where(age <= 0, np.inf, curve), mag)
        ref = np.where(sn, np.inf, ref)
    if is_k[Kind.ULENS].any():
        u = np.sqrt(p2**2 + ((jd - t0) / np.where(p1 > 0, p1, 1.0)) ** 2)
        gain = (u**2 + 2.0) / (u * np.sqrt(u**2 + 4.0))
        mag = np.where(is_k[Kind.ULENS], base - 2.5 * np.log10(gain), mag)
    ast = is_k[Kind.ASTEROID]
    if ast.any():
        spin = 0.15 * np.sin(2.0 * np.pi * (jd / 0.3 + p2))
        mag = np.where(ast, base + spin, mag)
        ref = np.where(ast, np.inf, ref)
    return mag, ref


_DRW_FREQ = np.geomspace(1.0 / 3000.0, 1.0 / 2.0, 12)


def _drw(seed: int, keys: I64, jd: F64, tau: F64) -> F64:
    """A damped-random-walk-like curve with unit variance: sinusoids weighted by the DRW spectrum."""
    f = _DRW_FREQ[None, :]
    weight = f / (1.0 + (2.0 * np.pi * f * tau[:, None]) ** 2)
    amp = np.sqrt(2.0 * weight / weight.sum(axis=1, keepdims=True))
    phase = 2.0 * np.pi * uniform(seed, 977, keys[:, None], np.arange(len(_DRW_FREQ))[None, :])
    phase = phase.reshape(len(keys), len(_DRW_FREQ))
    return (amp * np.cos(2.0 * np.pi * f * (jd[:, None] - ZTF_START_JD) + phase)).sum(axis=1)


def take(table: Table, idx: npt.ArrayLike) -> Table:
    """Rows `idx` of every column."""
    return {name: col[idx] for name, col in table.items()}


def concat(tables: list[Table]) -> Table:
    """Stack tables with the same columns (missing columns filled with zeros)."""
    names = list(dict.fromkeys(n for t in tables for n in t))
    out = {}
    for name in names:
        cols = [t[name] if name in t else np.zeros(len(next(iter(t.values())))) for t in tables]
        out[name] = np.concatenate(cols)
    return out
