"""Per-band principal-component fits of ZTF light curves, as the peer broker computes them.

Light curves are the alert's history then its current candidate (the peer's `concat_col` order), points
with a magnitude only, converted to SNANA FLUXCAL (`10**(11 - 0.4 mag)`) and its error.

* `fink2021_features` (fink-science 0.4.x): per band with >= 2 points, epochs relative to the brightest
  point are averaged in 0.25-day bins over [-50, 50] d, the bin means divided by their maximum and fitted by
  linear least squares with 2 PCs. Features per band: bins used, residual sum of squares (0 unless more bins
  than PCs), 2 coefficients, maximum bin mean. Solved for all bands of a batch at once (one batched SVD per
  distinct bin count), no per-alert loop.
* `kndetect_features` (fink-science >= 3): per band, the points within 50 d of the brightest, fitted (when
  the brightest flux > 200 and >= 2 points remain) with 3 PCs by bounded L-BFGS-B on a chi-square
  regularised towards small 2nd/3rd coefficients and a non-negative 1st. Features per band: 3 coefficients,
  RMS normalised residual, maximum flux. The peer calls scipy's `minimize` per band; here the same
  L-BFGS-B steps, bit for bit, run for all bands of a batch in lockstep (`siskin/science/lbfgsb.py`: scipy's
  `setulb` core, the loss and its forward differences for every fit in one numpy call per round and band
  size), and a band's result is remembered per process for identical inputs (an object's g curve is the
  same in its g alert and in its next r alert). The caller fits only the alerts that pass the peer's cuts,
  and only when both bands can be fitted (the score is 0 otherwise).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from siskin.science import sigmoid
from siskin.science.lbfgsb import minimize_bounded, minimize_bounded_many

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TIME_BIN = 0.25
N_GRID = 401  # epochs -50 .. 50 d every 0.25 d
KNDETECT_FLUX_MIN = 200.0


@dataclass(frozen=True)
class Points:
    """Detections (magnitude present) of all alerts, alert by alert, history first, in g (0) and r (1)."""

    alert: I64
    band: I64  # 0 = g (fid 1), 1 = r (fid 2); other filters are dropped
    jd: F64
    flux: F64
    err: F64
    n_alerts: int
    n_detections: I64  # per alert, points with a magnitude in any filter (the peer's "> 1" cut)


def points(batch: pa.Table) -> Points:
    """The batch's light curves in the peer's order, as FLUXCAL and its error."""
    curves = sigmoid.light_curves(batch)
    order = np.argsort(curves.alert, kind="stable")  # per alert: history in its order, then the candidate
    alert, jd, fid = curves.alert[order], curves.jd[order], curves.fid[order]
    mag, sig = curves.mag[order], curves.err[order]
    has_mag = ~np.isnan(mag)
    n_detections = np.bincount(alert[has_mag], minlength=curves.n_alerts).astype(np.int64)
    keep = has_mag & ((fid == 1) | (fid == 2))
    mag = mag[keep]
    return Points(
        alert=alert[keep],
        band=(fid[keep] - 1).astype(np.int64),
        jd=jd[keep],
        flux=10 ** (-0.4 * mag) * 10**11,
        err=9.21034 * 10**10 * np.exp(-0.921034 * mag) * sig[keep],
        n_alerts=curves.n_alerts,
        n_detections=n_detections,
    )


def _brightest(group: I64, flux: F64, n_groups: int) -> I64:
    """Index of each group's first brightest point (-1 for an empty group); points sorted by group."""
    position = np.arange(len(flux))
    order = np.lexsort((position, -flux, group))
    first = np.full(n_groups, -1, dtype=np.int64)
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, dtype=np.int64)
    first[g[starts]] = order[starts]
    return first


def fink2021_features(pts: Points, alerts: I64, pcs: F64) -> F64:
    """(len(alerts), 10) features [npoints, residuo, coeff1, coeff2, maxflux] x (g, r); zeros for a band
    with fewer than 2 points, as the peer."""
    out = np.zeros((len(alerts), 10))
    if not len(alerts):
        return out
    row_of = np.full(pts.n_alerts, -1, dtype=np.int64)
    row_of[alerts] = np.arange(len(alerts))
    rows = row_of[pts.alert]
    sel = rows >= 0
    group = rows[sel] * 2 + pts.band[sel]
    jd, flux = pts.jd[sel], pts.flux[sel]
    n_groups = 2 * len(alerts)
    counts = np.bincount(group, minlength=n_groups)
    fit = counts[group] >= 2  # the peer: at least as many points as PCs (fluxes are all >= 0)
    group, jd, flux = group[fit], jd[fit], flux[fit]
    if not len(group):
        return out
    peak = _brightest(group, flux, n_groups)
    epoch = jd - jd[peak[group]]
    grid = np.arange(-50.0, 50.0 + TIME_BIN, TIME_BIN)
    index = np.floor((epoch - grid[0] + TIME_BIN / 2) / TIME_BIN).astype(np.int64)
    index = np.clip(index, 0, N_GRID - 1)
    index -= epoch < grid[index] - 0.5 * TIME_BIN  # the peer's comparisons decide a border case
    index = np.clip(index, 0, N_GRID - 1)
    index += (epoch >= grid[index] + 0.5 * TIME_BIN) & (index < N_GRID - 1)
    inside = (epoch >= grid[index] - 0.5 * TIME_BIN) & (epoch < grid[index] + 0.5 * TIME_BIN)
    key = group[inside] * N_GRID + index[inside]
    keys, inverse = np.unique(key, return_inverse=True)
    means = np.bincount(inverse, weights=flux[inside]) / np.bincount(inverse)
    bin_group, bin_index = keys // N_GRID, keys % N_GRID
    n_bins = np.bincount(bin_group, minlength=n_groups)
    max_flux = np.full(n_groups, -np.inf)
    np.maximum.at(max_flux, bin_group, means)
    y = means / max_flux[bin_group]
    design = pcs[:, bin_index].T  # (bins, 2)
    coeff = np.zeros((n_groups, 2))
    residual = np.zeros(n_groups)
    starts = np.r_[0, np.cumsum(n_bins)[:-1]]
    fitted = np.flatnonzero(n_bins > 0)
    for size in np.unique(n_bins[fitted]):  # one batched SVD per bin count: no per-alert loop
        groups = fitted[n_bins[fitted] == size]
        take = starts[groups][:, None] + np.arange(size)[None, :]
        a, b = design[take], y[take]  # (G, size, 2), (G, size)
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        cutoff = np.finfo(np.float64).eps * max(int(size), 2) * s[:, :1]
        keep = s > cutoff
        inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
        ub = np.einsum("gij,gi->gj", u, b) * inv
        x = np.einsum("gji,gj->gi", vt, ub)
        coeff[groups] = x
        if size > 2:  # numpy's lstsq reports residuals only for full rank and more equations than PCs
            r = np.einsum("gij,gj->gi", a, x) - b
            residual[groups] = np.where(keep.all(axis=1), np.sum(r * r, axis=1), 0.0)
    has = n_bins > 0
    per_group = np.column_stack([n_bins, residual, coeff, np.where(has, max_flux, 0.0)])
    per_group[~has] = 0.0
    return per_group.reshape(len(alerts), 10)


@dataclass(frozen=True)
class BandProblem:
    """One band's kndetect fit: PC values at the points' epochs, normalised fluxes and errors, weight."""

    p0: F64
    p1: F64
    p2: F64
    flux: F64
    err: F64
    weight: float

    def loss(self, coeff: F64) -> float:
        """kndetect's loss, written as kndetect writes it (the reference `losses` must equal)."""
        y = coeff[0] * self.p0 + coeff[1] * self.p1 + coeff[2] * self.p2
        loss = np.sum(np.divide(np.square(y - self.flux), np.square(self.err)))
        reg = np.sum(np.square(coeff[[1, 2]]))
        if coeff[0] < 0:
            reg = reg + np.square(coeff[0])
        return float(loss + reg * self.weight)

    def losses(self, coeffs: F64) -> F64:
        """`loss` of each row of `coeffs` (k, 3) at once, with its operations in its order: the same bits
        (each row's sum is numpy's pairwise sum of that row, as `np.sum` of the 1-d array)."""
        y = coeffs[:, 0:1] * self.p0 + coeffs[:, 1:2] * self.p1 + coeffs[:, 2:3] * self.p2
        loss = np.sum(np.divide(np.square(y - self.flux), np.square(self.err)), axis=1)
        reg = np.square(coeffs[:, 1]) + np.square(coeffs[:, 2])
        reg = np.where(coeffs[:, 0] < 0, reg + np.square(coeffs[:, 0]), reg)
        return np.asarray(loss + reg * self.weight, dtype=np.float64)


_X0 = np.zeros(3) + 0.5  # kndetect's start and bounds
_LOWER, _UPPER = np.full(3, -2.0), np.full(3, 2.0)


def solve_lean(problem: BandProblem) -> F64:
    """kndetect's `minimize(loss, 0.5, bounds=[[-2, 2]] * 3).x`, bit for bit, without scipy's wrappers."""
    return minimize_bounded(problem.losses, _X0, _LOWER, _UPPER)


class _Stacked:
    """Many bands' problems, stacked per number of points, so that one numpy call evaluates `loss` for
    all the problems of one size at once (rows of equal length: each row's sum is `np.sum` of it)."""

    def __init__(self, problems: list[BandProblem]) -> None:
        self.size = np.array([len(p.flux) for p in problems], dtype=np.int64)
        self.slot = np.zeros(len(problems), dtype=np.int64)  # position in its size's stack
        self.stacks: dict[int, tuple[F64, F64, F64, F64, F64, F64]] = {}
        for size in np.unique(self.size):
            members = np.flatnonzero(self.size == size)
            self.slot[members] = np.arange(len(members))
            group = [problems[i] for i in members]
            self.stacks[int(size)] = (
                np.stack([p.p0 for p in group]),
                np.stack([p.p1 for p in group]),
                np.stack([p.p2 for p in group]),
                np.stack([p.flux for p in group]),
                np.square(np.stack([p.err for p in group])),
                np.array([p.weight for p in group]),
            )

    def losses(self, problems: npt.NDArray[np.intp], coeffs: F64) -> F64:
        """`BandProblem.losses` of each problem's points (k, m, 3) -> (k, m), the same operations."""
        out = np.empty(coeffs.shape[:2])
        sizes = self.size[problems]
        for size in np.unique(sizes):
            sel = np.flatnonzero(sizes == size)
            p0, p1, p2, flux, err2, weight = (a[self.slot[problems[sel]]] for a in self.stacks[int(size)])
            c = coeffs[sel]  # (k, m, 3)
            y = c[:, :, 0:1] * p0[:, None, :] + c[:, :, 1:2] * p1[:, None, :] + c[:, :, 2:3] * p2[:, None, :]
            loss = np.sum(np.divide(np.square(y - flux[:, None, :]), err2[:, None, :]), axis=-1)
            reg = np.square(c[:, :, 1]) + np.square(c[:, :, 2])
            reg = np.where(c[:, :, 0] < 0, reg + np.square(c[:, :, 0]), reg)
            out[sel] = loss + reg * weight[:, None]
        return out


def solve_lean_many(problems: list[BandProblem]) -> F64:
    """`solve_lean` of each problem (rows of the result), the fits advancing together so that each round
    evaluates the loss of all the fits that need it in one numpy call per problem size."""
    if not problems:
        return np.zeros((0, 3))
    stacked = _Stacked(problems)
    x0 = np.repeat(_X0[None, :], len(problems), axis=0)
    return minimize_bounded_many(stacked.losses, x0, _LOWER, _UPPER)


def _band_window(jd: F64, flux: F64) -> tuple[float, float, npt.NDArray[np.bool_]]:
    top = int(np.argmax(flux))
    mid = jd[top]
    half = TIME_BIN * (N_GRID - 1) / 2
    return float(flux[top]), float(mid), (jd > mid - half) & (jd < mid + half)


def _band_problem(jd: F64, flux: F64, err: F64, pcs: F64) -> tuple[BandProblem, float] | None:
    """kndetect's fit problem of one band and its maximum flux; None when it cannot be fitted."""
    if not len(jd):
        return None
    max_flux, mid, window = _band_window(jd, flux)
    jd, flux, err = jd[window], flux[window], err[window]
    if not (max_flux > KNDETECT_FLUX_MIN and len(jd) >= 2):
        return None
    top = int(np.argmax(flux))
    index = np.around((jd - mid) / TIME_BIN + (N_GRID - 1) / 2).astype(int)
    weight = float(np.square(max_flux / err[top]))
    nflux, nerr = flux / max_flux, err / max_flux
    return BandProblem(pcs[0][index], pcs[1][index], pcs[2][index], nflux, nerr, weight), max_flux


def _band_features(problem: BandProblem, c: F64, max_flux: float) -> list[float]:
    """[coeff1, coeff2, coeff3, residuo, maxflux] from the fitted coefficients, as kndetect."""
    y = c[0] * problem.p0 + c[1] * problem.p1 + c[2] * problem.p2
    residual = float(np.sqrt(np.mean(np.divide(np.square(y - problem.flux), np.square(problem.err)))))
    return [float(c[0]), float(c[1]), float(c[2]), residual, max_flux]


def kndetect_band(
    jd: F64, flux: F64, err: F64, pcs: F64, solve: Callable[[BandProblem], F64] = solve_lean
) -> list[float]:
    """[coeff1, coeff2, coeff3, residuo, maxflux] of one band (zeros when it cannot be fitted).

    `solve(problem)`: kndetect's scipy `minimize` of `problem.loss`, by default its lean equal."""
    prepared = _band_problem(jd, flux, err, pcs)
    if prepared is None:
        return [0.0] * 5
    problem, max_flux = prepared
    return _band_features(problem, solve(problem), max_flux)


def kndetect_fittable(pts: Points) -> npt.NDArray[np.bool_]:
    """Per alert, whether both g and r can be fitted (brightest > 200, >= 2 points within 50 d of it)."""
    group = pts.alert * 2 + pts.band
    n_groups = 2 * pts.n_alerts
    peak = _brightest(group, pts.flux, n_groups)
    has = peak >= 0
    half = TIME_BIN * (N_GRID - 1) / 2
    mid = np.where(has, pts.jd[np.maximum(peak, 0)], np.nan)
    near = (pts.jd > mid[group] - half) & (pts.jd < mid[group] + half)  # the peer's comparisons
    n_near = np.bincount(group[near], minlength=n_groups)
    bright = np.where(has, pts.flux[np.maximum(peak, 0)], 0.0) > KNDETECT_FLUX_MIN
    ok = (bright & (n_near >= 2)).reshape(pts.n_alerts, 2)
    return np.asarray(ok.all(axis=1))


# Fits of identical inputs give identical results: an object's g curve is the same in its g alert and in
# the r alert that follows it, and again in later micro-batches. Keyed by the PCs' digest and the exact
# bytes of the band's (jd, flux, err); bounded.
_FIT_CACHE: OrderedDict[bytes, list[float]] = OrderedDict()
_FIT_CACHE_SIZE = 20_000  # keys hold one band's points (< 1 KB): ~20 MB at most per worker
_FIT_LOCK = threading.Lock()


def kndetect_features(
    pts: Points, alerts: I64, pcs: F64, solve: Callable[[BandProblem], F64] | None = None
) -> F64:
    """(len(alerts), 10) features [coeff1..3, residuo, maxflux] x (g, r): one bounded fit per band.

    By default the fits of all bands run together (`solve_lean_many`) and are remembered per process;
    `solve(problem)` fits band by band instead (scipy's `minimize`, for comparison), remembering nothing."""
    out = np.zeros((len(alerts), 10))
    order = np.lexsort((np.arange(len(pts.alert)), pts.band, pts.alert))  # stable: peer's order kept
    group = pts.alert[order] * 2 + pts.band[order]
    bounds = np.searchsorted(group, np.stack([alerts * 2, alerts * 2 + 1, alerts * 2 + 2], axis=1))
    digest = hashlib.blake2b(np.ascontiguousarray(pcs).tobytes(), digest_size=16).digest()
    pending: dict[bytes, list[tuple[int, int]]] = {}  # a band to fit -> its (row, band) places
    problems: list[tuple[BandProblem, float]] = []
    for row in range(len(alerts)):  # per band: the remembered result, or its fit problem
        for band in (0, 1):
            sl = order[bounds[row, band] : bounds[row, band + 1]]
            jd, flux, err = pts.jd[sl], pts.flux[sl], pts.err[sl]
            if solve is not None:
                out[row, 5 * band : 5 * band + 5] = kndetect_band(jd, flux, err, pcs, solve)
                continue
            key = digest + len(jd).to_bytes(4, "little") + jd.tobytes() + flux.tobytes() + err.tobytes()
            if key in pending:  # the same band twice in the batch: one fit
                pending[key].append((row, band))
                continue
            with _FIT_LOCK:
                hit = _FIT_CACHE.get(key)
                if hit is not None:
                    _FIT_CACHE.move_to_end(key)
            if hit is not None:
                out[row, 5 * band : 5 * band + 5] = hit
                continue
            prepared = _band_problem(jd, flux, err, pcs)
            if prepared is not None:  # else zeros (cheap to find again: not remembered)
                pending[key] = [(row, band)]
                problems.append(prepared)
    coeffs = solve_lean_many([problem for problem, _ in problems])
    for (key, places), (problem, max_flux), c in zip(pending.items(), problems, coeffs, strict=True):
        result = _band_features(problem, c, max_flux)
        for row, band in places:
            out[row, 5 * band : 5 * band + 5] = result
        with _FIT_LOCK:
            _FIT_CACHE[key] = result
            if len(_FIT_CACHE) > _FIT_CACHE_SIZE:
                _FIT_CACHE.popitem(last=False)
    return out
