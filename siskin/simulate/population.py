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
from typing import Any

import numpy as np
import numpy.typing as npt

from siskin.simulate._random import normal, uniform
from siskin.simulate.schedule import JD_NID_EPOCH, field_grid, jd_midnight, readout

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
SHARE = {
    Kind.RRLYR: 0.16,
    Kind.LPV: 0.12,
    Kind.AGN: 0.12,
    Kind.SN: 0.27,
    Kind.ULENS: 0.03,
    Kind.ASTEROID: 0.14,
    Kind.BOGUS: 0.16,
}
YIELD = {
    Kind.RRLYR: 0.31,
    Kind.LPV: 0.405,
    Kind.AGN: 0.165,
    Kind.SN: 20.3,
    Kind.ULENS: 16.4,
    Kind.ASTEROID: 0.27,
}
MARGIN = 1.2  # draw this many more real candidates than needed; the surplus is not alerted
KEY_BASE = {
    Kind.RRLYR: 0,
    Kind.LPV: 300_000_000,
    Kind.AGN: 600_000_000,
    Kind.SN: 1_000_000_000,
    Kind.ULENS: 2_000_000_000,
    Kind.BOGUS: 3_000_000_000,
    Kind.ASTEROID: 4_000_000_000,
}
ORBIT_BASE = 5_000_000_000  # asteroid orbits; each asteroid detection gets a new objectId key
SLOT = 100_000  # keys per day slot
SLOT_DAYS = {Kind.SN: (-300, 0), Kind.ULENS: (-125, 125)}  # slots that can be alive on a night
ZP = 25.0  # internal flux zero point: flux = 10 ** (-0.4 * (mag - ZP))
ZTF_START_JD = 2458194.5  # 2018-03-17, start of ZTF survey operations
SOUTH_LIMIT = -30.0  # ZTF observes north of dec -30


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


def objects_for_night(pop: Population, nid: int) -> list[Table]:
    """Every object that may be seen on night `nid`, by part: persistent, live SN, live microlensing,
    asteroids (parts stay apart so the large persistent table is never copied)."""
    parts = [persistent(pop)]
    for kind in (Kind.SN, Kind.ULENS):
        lo, hi = SLOT_DAYS[kind]
        days = np.arange(nid + lo, nid + hi + 1, dtype=np.int64)
        rate = pop.expected(kind)
        counts = int(rate) + (uniform(pop.seed, 901 + kind, days) < rate - int(rate))
        day = np.repeat(days, counts)
        within = np.arange(len(day)) - np.repeat(np.cumsum(counts) - counts, counts)
        keys = KEY_BASE[kind] + day * SLOT + within
        alive = _alive(pop.seed, kind, keys, day, jd_midnight(nid) + 0.125, jd_midnight(nid) + 0.53)
        parts.append(draw(pop.seed, kind, keys[alive], day=day[alive]))
    orbits = ORBIT_BASE + np.arange(int(np.ceil(pop.expected(Kind.ASTEROID))), dtype=np.int64)
    asteroids = draw(pop.seed, Kind.ASTEROID, orbits, jd=jd_midnight(nid) + 0.33)
    parts.append(take(asteroids, np.flatnonzero(asteroids["dec"] > SOUTH_LIMIT + 0.1)))
    return parts


def _alive(seed: int, kind: Kind, keys: I64, day: I64, start: float, end: float) -> npt.NDArray[np.bool_]:
    """Which transients of these slots shine at some time in [start, end] (cheap pre-filter)."""
    params = draw_timing(seed, kind, keys, day)
    t0, p1 = params["t0"], params["p1"]
    if kind is Kind.SN:
        return (t0 < end) & (t0 + sn_end(params["m0"], p1, params["p2"]) > start)
    return (t0 - ULENS_SPAN * p1 < end) & (t0 + ULENS_SPAN * p1 > start)


def draw_timing(seed: int, kind: Kind, keys: I64, day: I64) -> Table:
    """When a transient happens: t0, the shape parameters p1, p2 and the peak/baseline m0."""

    def u(stream: int) -> F64:
        return uniform(seed, 100 * int(kind) + stream, keys)

    t0 = JD_NID_EPOCH + day + u(14)
    if kind is Kind.SN:
        peak = np.clip(19.0 + 0.6 * normal(seed, 100 * int(kind) + 10, keys), 16.5, 20.4)
        return {"t0": t0, "m0": peak, "p1": 12.0 + 7.0 * u(12), "p2": 0.02 + 0.025 * u(13)}
    return {"t0": t0, "m0": 18.0 + 3.0 * u(10), "p1": 8.0 + 32.0 * u(12), "p2": 0.02 + 0.5 * u(13)}


def draw(seed: int, kind: Kind, keys: I64, *, day: I64 | None = None, jd: float = 0.0) -> Table:
    """Draw the properties of objects of one class from their keys (pure: same key, same object)."""
    n = len(keys)

    def u(stream: int) -> F64:
        return uniform(seed, 100 * int(kind) + stream, keys)

    sin_lo = np.sin(np.radians(SOUTH_LIMIT + 0.01))
    t = {
        "key": keys,
        "hid": keys,
        "kind": np.full(n, int(kind), dtype=np.int64),
        "ra": 360.0 * u(1),
        "dec": np.degrees(np.arcsin(sin_lo + (1.0 - sin_lo) * u(2))),
        "sgscore": 0.85 + 0.15 * u(3),
        "distnr": 0.04 + 0.3 * u(4),
        "jdstart": ZTF_START_JD + 650.0 * u(5),
        "ndet_rate": 0.05 + 0.45 * u(6),
        "cov_ratio": 1.5 + 2.5 * u(7),
        "p1": np.zeros(n),
        "p2": np.zeros(n),
        "t0": np.zeros(n),
    }
    if kind is Kind.RRLYR:
        t |= {
            "m0": 14.5 + 5.0 * u(10),
            "color": 0.15 + 0.2 * u(11),
            "p1": 0.3 + 0.6 * u(12),
            "p2": 0.3 + 0.7 * u(13),
        }
        t["t0"] = t["p1"] * u(14)
    elif kind is Kind.LPV:
        t |= {
            "m0": 13.5 + 5.0 * u(10),
            "color": 1.0 + 1.0 * u(11),
            "p1": 80.0 + 420.0 * u(12),
            "p2": 0.5 + 2.0 * u(13),
        }
        t["t0"] = t["p1"] * u(14)
    elif kind is Kind.AGN:
        t |= {
            "m0": 17.0 + 3.0 * u(10),
            "color": 0.2 + 0.3 * u(11),
            "p1": 50.0 + 350.0 * u(12),
            "p2": 0.08 + 0.25 * u(13),
            "sgscore": 0.2 + 0.7 * u(3),
            "distnr": 0.1 + 0.4 * u(4),
        }
    elif kind is Kind.SN:
        assert day is not None
        t |= draw_timing(seed, kind, keys, day)
        t |= {
            "color": -0.15 + 0.3 * u(11),
            "sgscore": 0.25 * u(3),
            "distnr": 0.3 + 2.7 * u(4),
            "magnr": 18.0 + 3.5 * u(15),
        }
        t["jdstart"] = t["t0"] + t["p1"] * np.power(10.0, -(20.5 - t["m0"]) / 5.0)
    elif kind is Kind.ULENS:
        assert day is not None
        t |= draw_timing(seed, kind, keys, day) | {"color": 0.3 + 0.9 * u(11)}
        t["jdstart"] = t["t0"] - 1.5 * t["p1"]
    elif kind is Kind.ASTEROID:
        lam = np.radians(360.0 * u(1) - (0.08 + 0.25 * u(12)) * (jd - 2460000.5))
        beta = np.radians(np.clip(8.0 * normal(seed, 100 * int(kind) + 2, keys), -40.0, 40.0))
        t["ra"], t["dec"] = ecliptic_to_equatorial(lam, beta)
        t |= {
            "m0": 17.0 + 4.3 * np.sqrt(u(10)),
            "color": 0.4 + 0.25 * u(11),
            "sgscore": u(3),
            "distnr": 2.0 + 15.0 * u(4),
            "magnr": 16.0 + 6.5 * u(15),
            "p1": 0.08 + 0.25 * u(12),
            "p2": 1.0 * u(1),
            "t0": np.full(n, jd),
        }
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


_BAND_SHIFT = np.array([0.0, 1.0, 0.0, -0.5])  # colour multiple added to r, indexed by fid
_AMP_SCALE = np.array([0.0, 1.3, 1.0, 0.75])
ULENS_SPAN = 3.0  # microlensing events last +-3 tE; outside, the star is at its baseline


def sn_end(m0: F64, rise: F64, fade: F64) -> F64:
    """Days after explosion when a supernova fades below 21.5 mag (r); it is gone after that."""
    return rise + (21.5 - m0) / fade


def magnitudes(seed: int, objs: Table, jd: F64, fid: I64) -> tuple[F64, F64]:
    """True and reference (template) magnitudes of object rows at epochs `jd` in filters `fid`.

    The reference is what the template image holds: the mean star for variables, nothing (mag inf)
    for supernovae and asteroids; an alert measures the difference of the two fluxes. Transients
    have compact support, so a night can skip objects not alive at all that night.
    """
    kind, m0, p1, p2, t0 = objs["kind"], objs["m0"], objs["p1"], objs["p2"], objs["t0"]
    base = m0 + _BAND_SHIFT[fid] * objs["color"]
    amp = _AMP_SCALE[fid]
    mag = base.copy()
    ref = base.copy()
    for k in np.unique(kind).tolist():
        i = np.flatnonzero(kind == k)
        dt = jd[i] - t0[i]
        if k == Kind.RRLYR:
            phase = np.mod(dt / p1[i], 1.0)
            saw = np.where(phase < 0.15, phase / 0.15, 1.0 - (phase - 0.15) / 0.85)
            mag[i] = base[i] + amp[i] * p2[i] * (0.5 - saw)
        elif k == Kind.LPV:
            mag[i] = base[i] + 0.5 * amp[i] * p2[i] * np.sin(2.0 * np.pi * dt / p1[i])
        elif k == Kind.AGN:
            mag[i] = base[i] + amp[i] * p2[i] * _drw(seed, objs["key"][i], jd[i], p1[i])
        elif k == Kind.SN:
            f = fid[i]
            after = np.maximum(dt - p1[i], 0.0)
            redden = np.where(f == 1, 0.012, np.where(f == 3, -0.004, 0.0)) * after
            rising = base[i] - 5.0 * np.log10(np.clip(dt, 1e-3, None) / p1[i])
            fading = base[i] + np.where(f == 1, 1.4, 1.0) * p2[i] * after + redden
            alive = (dt > 0) & (dt < sn_end(m0[i], p1[i], p2[i]))
            mag[i] = np.where(alive, np.where(dt < p1[i], rising, fading), np.inf)
            ref[i] = np.inf
        elif k == Kind.ULENS:
            u = np.sqrt(p2[i] ** 2 + (dt / p1[i]) ** 2)
            gain = np.where(np.abs(dt) < ULENS_SPAN * p1[i], (u**2 + 2.0) / (u * np.sqrt(u**2 + 4.0)), 1.0)
            mag[i] = base[i] - 2.5 * np.log10(gain)
        elif k == Kind.ASTEROID:
            mag[i] = base[i] + 0.15 * np.sin(2.0 * np.pi * (jd[i] / 0.3 + p2[i]))
            ref[i] = np.inf
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


def take(table: Table, idx: Any) -> Table:
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
