"""One night's detections: objects meet exposures, the light curve decides, ids are assigned.

Everything is a pure function of (seed, n_alerts, night) so that a later night can rebuild the exact
detections (and candids) of the 30 nights before it for `prv_candidates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from siskin.simulate._random import normal, uniform
from siskin.simulate.population import (
    KEY_BASE,
    SHARE,
    Kind,
    Population,
    Table,
    asteroid_position,
    concat,
    flux,
    magnitudes,
    objects_for_night,
    take,
)
from siskin.simulate.schedule import (
    DEC_MIN,
    FIELD_SIZE_DEG,
    FIRST_FIELD,
    Visits,
    field_grid,
    jd_midnight,
    night_date,
    night_of,
    night_visits,
    readout,
)

I64 = npt.NDArray[np.int64]
CODE = 100_000_000  # (key, vid) -> key * CODE + vid, unique per object and exposure


def join_visits(objs: Table, visits: Visits, *, before: float | None = None) -> tuple[I64, I64]:
    """(object row, visit row) pairs for every visit of each object's field."""
    order = np.argsort(visits.field, kind="stable")
    vf = visits.field[order]
    start = np.searchsorted(vf, objs["field"], "left")
    counts = np.searchsorted(vf, objs["field"], "right") - start
    oi = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(oi)) - np.repeat(np.cumsum(counts) - counts, counts)
    vi = order[np.repeat(start, counts) + within]
    return oi, vi


def measure(seed: int, objs: Table, visits: Visits, oi: I64, vi: I64) -> Table:
    """Rows of (object, exposure) with the measured difference flux and its 1-sigma noise."""
    rows = take(objs, oi)
    jd, fid = visits.jd[vi], visits.fid[vi]
    rows |= {"vid": visits.vid[vi], "jd": jd, "fid": fid, "diffmaglim": visits.diffmaglim[vi],
             "seeing": visits.seeing[vi], "magzpsci": visits.magzpsci[vi],
             "programpi": visits.programpi[vi]}
    mag, ref = magnitudes(seed, rows, jd, fid)
    sigma = flux(rows["diffmaglim"]) / 5.0
    noise = normal(seed, 31, rows["hid"], rows["vid"])
    rows["flux"] = flux(mag) - flux(ref) + sigma * noise
    rows["sigflux"] = sigma
    rows["refmag"] = ref
    ast = rows["kind"] == int(Kind.ASTEROID)
    if ast.any():
        ra, dec = asteroid_position(rows, jd)
        rows["ra"], rows["dec"] = np.where(ast, ra, rows["ra"]), np.where(ast, dec, rows["dec"])
    return rows


@dataclass(frozen=True)
class NightIndex:
    """What later nights need to know about a night: alerted (key, vid) codes and their candids."""

    codes: I64  # sorted
    candids: I64  # aligned with codes
    dropped: I64  # sorted codes of real detections that got no alert (not shown as upper limits)


def night_detections(pop: Population, nid: int) -> tuple[Table, I64]:
    """All alerts of the night (exactly n_alerts rows, time-ordered) and the dropped candidate codes."""
    seed, n = pop.seed, pop.n_alerts
    visits = night_visits(seed, nid)
    objs = objects_for_night(pop, nid)
    rows = measure(seed, objs, visits, *join_visits(objs, visits))
    real = take(rows, np.flatnonzero(np.abs(rows["flux"]) > 5.0 * rows["sigflux"]))
    n_bogus = min(n, round(SHARE[Kind.BOGUS] * n))
    n_real = n - n_bogus
    codes = real["hid"] * CODE + real["vid"]
    keep = np.argsort(uniform(seed, 41, codes), kind="stable")
    dropped = np.sort(codes[keep[n_real:]])
    real = take(real, np.sort(keep[:n_real]))
    n_bogus = n - len(real["vid"])
    year_day = night_date(night_of(nid)).timetuple().tm_yday * 1_000_000
    ast = np.flatnonzero(real["kind"] == int(Kind.ASTEROID))
    real["key"][ast] = KEY_BASE[Kind.ASTEROID] + year_day + np.arange(len(ast))
    for name, value in (("jdstart", real["jd"]), ("ndet_rate", 0.0)):
        real[name] = np.where(real["kind"] == int(Kind.ASTEROID), value, real[name])
    rows = concat([real, bogus(seed, nid, n_bogus, visits, KEY_BASE[Kind.BOGUS] + year_day)])
    rows = assign_candids(nid, rows)
    order = np.lexsort((rows["candid"], rows["jd"]))
    return take(rows, order), dropped


def bogus(seed: int, nid: int, count: int, visits: Visits, key0: int) -> Table:
    """Artefacts: random places in random exposures, near the limit, with low real-bogus scores."""
    keys = key0 + np.arange(count, dtype=np.int64)
    vi = np.minimum((uniform(seed, 51, keys) * len(visits)).astype(np.int64), len(visits) - 1)
    grid = field_grid()
    band = np.searchsorted(grid.first, visits.field[vi] - FIRST_FIELD, "right") - 1
    cell = visits.field[vi] - FIRST_FIELD - grid.first[band]
    fu, fv = uniform(seed, 52, keys), uniform(seed, 53, keys)
    ra = (cell + fu) * 360.0 / grid.n_ra[band]
    dec = np.minimum(DEC_MIN + (band + fv) * FIELD_SIZE_DEG, 89.9)
    lim = visits.diffmaglim[vi]
    mag = lim - 1.6 * uniform(seed, 54, keys) ** 2
    sign = np.where(uniform(seed, 55, keys) < 0.55, 1.0, -1.0)
    rcid, xpos, ypos = readout(fu, fv)
    zeros = np.zeros(count)
    return {
        "key": keys, "hid": keys, "kind": np.full(count, int(Kind.BOGUS), dtype=np.int64), "ra": ra,
        "dec": dec, "field": visits.field[vi], "rcid": rcid, "xpos": xpos, "ypos": ypos,
        "sgscore": uniform(seed, 56, keys), "distnr": 0.3 + 6.0 * uniform(seed, 57, keys),
        "magnr": 12.0 + 10.0 * uniform(seed, 58, keys), "m0": mag, "color": zeros, "p1": zeros,
        "p2": zeros, "t0": zeros, "jdstart": visits.jd[vi], "ndet_rate": zeros,
        "cov_ratio": 1.5 + 2.5 * uniform(seed, 59, keys), "vid": visits.vid[vi], "jd": visits.jd[vi],
        "fid": visits.fid[vi], "diffmaglim": lim, "seeing": visits.seeing[vi],
        "magzpsci": visits.magzpsci[vi], "programpi": visits.programpi[vi],
        "flux": sign * 10.0 ** (-0.4 * (mag - 25.0)), "sigflux": 10.0 ** (-0.4 * (lim - 25.0)) / 5.0,
        "refmag": np.full(count, np.inf),
    }


def assign_candids(nid: int, rows: Table) -> Table:
    """ZTF-style ids: pid = nid|day fraction|rcid|15, candid = pid * 1e6 + 15000 + row in that pid."""
    frac5 = np.floor((rows["jd"] - jd_midnight(nid)) * 1e5).astype(np.int64)
    pid = nid * 1_000_000_000 + frac5 * 10_000 + rows["rcid"] * 100 + 15
    order = np.lexsort((rows["hid"], pid))
    sorted_pid = pid[order]
    first = np.searchsorted(sorted_pid, sorted_pid, "left")
    tblid = np.empty(len(pid), dtype=np.int64)
    tblid[order] = np.arange(len(pid)) - first
    rows["pid"], rows["tblid"] = pid, tblid
    rows["candid"] = pid * 1_000_000 + 15_000 + tblid
    return rows


@lru_cache(maxsize=48)
def night_index(pop: Population, nid: int) -> NightIndex:
    """The compact record of night `nid` that later nights look their history up in."""
    rows, dropped = night_detections(pop, nid)
    codes = rows["key"] * CODE + rows["vid"]
    order = np.argsort(codes)
    return NightIndex(codes=codes[order], candids=rows["candid"][order], dropped=dropped)
