"""30-day histories of tonight's alerts, rebuilt from the deterministic model of earlier nights.

For each alerted object, every exposure of its field in the 30 days before the alert becomes a
prv_candidate: a detection (with the candid that night's simulation gave it) when that night alerted
on the object, otherwise an upper limit. Real detections that night's simulation did not alert on
(the surplus over n_alerts) are left out rather than shown as limits they would contradict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from siskin.simulate.fields import pid_of
from siskin.simulate.nights import CODE, NightIndex, join_visits, measure, night_index
from siskin.simulate.population import Population, Table, take
from siskin.simulate.schedule import Visits, night_visits

I64 = npt.NDArray[np.int64]
WINDOW_DAYS = 30.0


@dataclass(frozen=True)
class History:
    """Past exposures of a batch of alerts' objects, sorted by (object, time), with per-alert slices."""

    rows: Table  # measured rows; "candid" is -1 for upper limits
    start: I64  # alert i's history is rows[start[i]:stop[i]]
    stop: I64


def _visits_between(seed: int, first: int, last: int) -> Visits:
    """All exposures of nights first..last."""
    parts = [night_visits(seed, nid) for nid in range(first, last + 1)]
    return Visits(*(np.concatenate([getattr(p, f) for p in parts]) for f in Visits.__dataclass_fields__))


def _lookup(index: NightIndex, codes: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Candids of codes alerted on (-1 otherwise) and whether a code was a dropped detection."""
    pos = np.clip(np.searchsorted(index.codes, codes), 0, max(len(index.codes) - 1, 0))
    hit = index.codes[pos] == codes if len(index.codes) else np.zeros(len(codes), bool)
    candid = np.where(hit, index.candids[pos] if len(index.codes) else -1, -1)
    dpos = np.clip(np.searchsorted(index.dropped, codes), 0, max(len(index.dropped) - 1, 0))
    dropped = index.dropped[dpos] == codes if len(index.dropped) else np.zeros(len(codes), bool)
    return candid, dropped


def history(pop: Population, nid: int, alerts: Table, tonight: NightIndex) -> History:
    """Histories of a batch of alerts (rows sorted by time) against tonight's and earlier nights."""
    seed = pop.seed
    keys, first = np.unique(alerts["key"], return_index=True)
    objs = take(alerts, first)
    visits = _visits_between(seed, nid - int(WINDOW_DAYS) - 1, nid)
    oi, vi = join_visits(objs, visits)
    newest = np.full(len(keys), -np.inf)
    np.maximum.at(newest, np.searchsorted(keys, alerts["key"]), alerts["jd"])
    in_window = (visits.jd[vi] < newest[oi]) & (visits.jd[vi] >= newest[oi] - WINDOW_DAYS - 1.0)
    oi, vi = oi[in_window], vi[in_window]
    rows = measure(seed, objs, visits, oi, vi)
    codes = rows["key"] * CODE + rows["vid"]
    candid = np.full(len(codes), -1, dtype=np.int64)
    dropped = np.zeros(len(codes), dtype=bool)
    row_nid = rows["vid"] // 10_000
    for night in np.unique(row_nid).tolist():
        sel = np.flatnonzero(row_nid == night)
        index = tonight if night == nid else night_index(pop, night)
        candid[sel], dropped[sel] = _lookup(index, codes[sel])
    keep = np.flatnonzero(~dropped)
    rows = take(rows, keep)
    rows["candid"] = candid[keep]
    order = np.lexsort((rows["jd"], rows["key"]))
    rows = take(rows, order)
    rows["pid"] = pid_of(rows)
    rows["tblid"] = np.where(rows["candid"] >= 0, rows["candid"] % 1_000_000 - 15_000, -1)
    base = float(rows["jd"].min()) if len(rows["jd"]) else 0.0
    composite = np.searchsorted(keys, rows["key"]) * 100.0 + (rows["jd"] - base)
    pos = np.searchsorted(keys, alerts["key"]) * 100.0
    start = np.searchsorted(composite, pos + (alerts["jd"] - WINDOW_DAYS - base), "left")
    stop = np.searchsorted(composite, pos + (alerts["jd"] - base), "left")
    return History(rows=rows, start=start, stop=stop)
