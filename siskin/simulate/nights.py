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
from siskin.simulate.fields import pid_of
from siskin.simulate.population import (
    KEY_BASE,
    SHARE,
    SOUTH_LIMIT,
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
    night_date,
    night_of,
    night_visits,
    readout,
)

I64 = npt.NDArray[np.int64]
CODE = 100_000_000  # (key, vid) -> key * CODE + vid, unique per object and exposure


def join_visits(objs: Table, visits: Visits) -> tuple[I64, I64]:
    """(object row, visit row) pairs for every visit of each object's field."""
    order = np.argsort(visits.field, kind="stable")
    per_field = np.bincount(visits.field - FIRST_FIELD, minlength=field_grid().n_fields)
    first = np.concatenate([[0], np.cumsum(per_field)[:-1]])
    cell = objs["field"] - FIRST_FIELD
    start, counts = first[cell], per_field[cell]
    oi = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(oi)) - np.repeat(np.cumsum(counts) - counts, counts)
    vi = order[np.repeat(start, counts) + within]
    return oi, vi


_LIGHT_CURVE = ("key", "hid", "kind", "m0", "color", "p1", "p2", "t0")


def measure(
    seed: int, objs: Table, visits: Visits, oi: I64, vi: I64, *, detected_only: bool = False
) -> Table:
    """Rows of (object, exposure) with the measured difference flux and its 1-sigma noise.

    A detection is a 5-sigma difference flux; with `detected_only` the other rows are dropped before
    the object's remaining columns are copied.
    """
    jd, fid = visits.jd[vi], visits.fid[vi]
    lc = {name: objs[name][oi] for name in _LIGHT_CURVE}
    mag, ref = magnitudes(seed, lc, jd, fid)
    sigma = flux(visits.diffmaglim[vi]) / 5.0
    diff = flux(mag) - flux(ref) + sigma * normal(seed, 31, lc["hid"], visits.vid[vi])
    if detected_only:
        keep = np.flatnonzero(np.abs(diff) > 5.0 * sigma)
        oi, vi, jd, fid = oi[keep], vi[keep], jd[keep], fid[keep]
        diff, sigma, ref = diff[keep], sigma[keep], ref[keep]
    rows = take(objs, oi)
    rows |= {
        "vid": visits.vid[vi],
        "jd": jd,
        "fid": fid,
        "diffmaglim": visits.diffmaglim[vi],
        "seeing": visits.seeing[vi],
        "magzpsci": visits.magzpsci[vi],
        "programpi": visits.programpi[vi],
        "flux": diff,
        "sigflux": sigma,
        "refmag": ref,
    }
    ast = rows["kind"] == int(Kind.ASTEROID)
    if ast.any():
        ra, dec = asteroid_position(take(rows, ast), jd[ast])
        rows["ra"], rows["dec"] = rows["ra"].copy(), rows["dec"].copy()
        rows["ra"][ast], rows["dec"][ast] = ra, dec
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
    real = concat(
        [
            measure(seed, objs, visits, *join_visits(objs, visits), detected_only=True)
            for objs in objects_for_night(pop, nid)
        ]
    )
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
    rows = assign_candids(rows)
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
    south = (SOUTH_LIMIT - DEC_MIN) / FIELD_SIZE_DEG  # keep the lowest band's artefacts north of -30
    fv = np.where(band == 0, south + (1.0 - south) * fv, fv)
    ra = (cell + fu) * 360.0 / grid.n_ra[band]
    dec = np.minimum(DEC_MIN + (band + fv) * FIELD_SIZE_DEG, 89.9)
    lim = visits.diffmaglim[vi]
    mag = lim - 1.6 * uniform(seed, 54, keys) ** 2
    sign = np.where(uniform(seed, 55, keys) < 0.55, 1.0, -1.0)
    rcid, xpos, ypos = readout(fu, fv)
    zeros = np.zeros(count)
    return {
        "key": keys,
        "hid": keys,
        "kind": np.full(count, int(Kind.BOGUS), dtype=np.int64),
        "ra": ra,
        "dec": dec,
        "field": visits.field[vi],
        "rcid": rcid,
        "xpos": xpos,
        "ypos": ypos,
        "sgscore": uniform(seed, 56, keys),
        "distnr": 0.3 + 6.0 * uniform(seed, 57, keys),
        "magnr": 12.0 + 10.0 * uniform(seed, 58, keys),
        "m0": mag,
        "color": zeros,
        "p1": zeros,
        "p2": zeros,
        "t0": zeros,
        "jdstart": visits.jd[vi],
        "ndet_rate": zeros,
        "cov_ratio": 1.5 + 2.5 * uniform(seed, 59, keys),
        "vid": visits.vid[vi],
        "jd": visits.jd[vi],
        "fid": visits.fid[vi],
        "diffmaglim": lim,
        "seeing": visits.seeing[vi],
        "magzpsci": visits.magzpsci[vi],
        "programpi": visits.programpi[vi],
        "flux": sign * flux(mag),
        "sigflux": flux(lim) / 5.0,
        "refmag": np.full(count, np.inf),
    }


def assign_candids(rows: Table) -> Table:
    """ZTF-style ids: pid = nid|day fraction|rcid|15, candid = pid * 1e6 + 15000 + row in that pid."""
    pid = pid_of(rows)
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
