"""Sigmoid-fit features of a rising light curve per band (Leoni et al. 2022), the early SN Ia inputs.

The peer broker's definition (fink-science `rfscore_sigmoid_full`, actsnfink `get_sigmoid_features_dev`
with its defaults): per alert, its history plus the current candidate; per band (g, r):
  1. magnitudes to SNANA flux `10**(11 - 0.4 m)`, error `9.21034e10 exp(-0.921034 m) sigma`;
     upper limits (no magnitude) are dropped;
  2. points averaged per night: the JD rounded to an integer (half to even), mean flux and error;
  3. points with flux <= -10 dropped; fewer than `min_data_points` nights: no fit;
  4. the band must rise all along: the derivative of the exponentially weighted mean of the flux
     (`com = ewma_window`) is >= 0 at every night, and at least `min_rising_points` nights;
  5. then `snratio` = mean flux / error, `nrise` = nights, a least-squares fit of
     `c / (1 + exp(-a (t - b)))` (t in days from the first night) gives `a, b, c`, and `mse` is the
     mean squared difference of the normalised flux and the normalised fit (rounded to 1e-4, 0 -> 1e-5).
A band without a fit gets `a, b, c, snratio, mse, nrise = 0, 0, 0, 0.1, 1e8, 0`.

Everything up to the fit is whole-array numpy over all alerts; the fit itself (scipy's `least_squares`
iteration, run bit-identically by `siskin.science.lsq`) is one call per (alert, band) that passes steps
3-4, remembered per process for identical inputs; the SN Ia score asks only for alerts that pass in both
bands (`both_bands`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from siskin.science.lsq import least_squares_trf
from siskin.science.paths import input_column

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

FEATURE_NAMES = tuple(
    f"{name}_{band}" for band in "gr" for name in ("a", "b", "c", "snratio", "mse", "nrise")
)
FAKE = np.array([0.0, 0.0, 0.0, 0.1, 1e8, 0.0])
BANDS = (1, 2)  # ZTF fid: g, r
LIGHT_CURVE_INPUTS = (
    "jd",
    "fid",
    "magpsf",
    "sigmapsf",
    "prv_candidates.jd",
    "prv_candidates.fid",
    "prv_candidates.magpsf",
    "prv_candidates.sigmapsf",
)


@dataclass(frozen=True)
class LightCurves:
    """All alerts' points (history then current candidate), flat, with the alert each belongs to."""

    alert: I64
    jd: F64
    fid: I64
    mag: F64
    err: F64
    n_alerts: int


def _flat(batch: pa.Table, path: str) -> tuple[F64, I64]:
    """A `prv_candidates.<field>` list column as flat float64 values (NaN for nulls) and parent rows."""
    lists = input_column(batch, path)
    assert lists is not None  # the runner checked the inputs
    flat = lists.flatten()
    parents = np.asarray(pa.compute.list_parent_indices(lists), dtype=np.int64)
    return flat.to_numpy(zero_copy_only=False).astype(np.float64), parents


def light_curves(batch: pa.Table) -> LightCurves:
    """The history and current candidate of every alert of `batch`, as flat arrays."""
    parts = {name: _flat(batch, f"prv_candidates.{name}") for name in ("jd", "fid", "magpsf", "sigmapsf")}
    history_alert = parts["jd"][1]
    n = batch.num_rows
    current = {name: batch.column(name).to_numpy().astype(np.float64) for name in ("jd", "fid", "magpsf")}
    current["sigmapsf"] = batch.column("sigmapsf").to_numpy().astype(np.float64)
    alert = np.concatenate([history_alert, np.arange(n, dtype=np.int64)])
    values = {k: np.concatenate([parts[k][0], current[k]]) for k in parts}
    fid = np.nan_to_num(values["fid"], nan=-1).astype(np.int64)
    return LightCurves(alert, values["jd"], fid, values["magpsf"], values["sigmapsf"], n)


def valid_points(curves: LightCurves) -> I64:
    """Per alert, how many points carry a magnitude (the peer's `>= 4 points` cut counts these)."""
    ok = ~np.isnan(curves.mag)
    return np.bincount(curves.alert[ok], minlength=curves.n_alerts).astype(np.int64)


def fsigmoid(t: F64, a: float, b: float, c: float) -> F64:
    """The rising model: `c / (1 + exp(-a (t - b)))`."""
    with np.errstate(over="ignore"):
        return np.asarray(c / (1.0 + np.exp(-a * (t - b))), dtype=np.float64)


def fit_sigmoid(
    t: F64, flux: F64, solve: Callable[[Callable[[F64], F64], F64], F64] = least_squares_trf
) -> tuple[float, float, float]:
    """Least-squares `a, b, c` from the peer's starting guess (its quirks kept: index-based slope).

    `solve(residuals, x0)`: scipy's `least_squares(residuals, x0).x`, by default its lean equal."""
    top, bottom = int(flux.argmax()), int(flux.argmin())
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (top - bottom) / (t[top] - t[bottom]) if t[top] - t[0] > 0 else 1.0
        c0 = float(flux.max())
        f0 = float(flux[0])
        b0 = float(np.log(c0 / f0 - 1.0) / slope) if f0 != 0 and c0 / f0 != 1.0 else 1.0

    def residuals(p: F64) -> F64:  # fsigmoid's formula; overflow of exp is silenced once, around the fit
        return np.abs(flux - np.asarray(p[2] / (1.0 + np.exp(-p[0] * (t - p[1]))), dtype=np.float64))

    with np.errstate(over="ignore"):
        # scipy's least_squares with its defaults, step for step (bit-identical), without its wrappers
        fitted = solve(residuals, np.array([slope, b0, c0], dtype=np.float64))
    a, b, c = (float(v) for v in fitted)
    return a, b, c


def _nightly(curves: LightCurves, band: int) -> tuple[I64, F64, F64, F64]:
    """Per (alert, night) of one band: alert, night (rounded JD), mean flux, mean error; sorted."""
    keep = (curves.fid == band) & ~np.isnan(curves.mag) & ~np.isnan(curves.jd)
    alert, mag, err = curves.alert[keep], curves.mag[keep], curves.err[keep]
    night = np.round(curves.jd[keep])  # half to even, as numpy.around in the peer
    flux = 10.0 ** (-0.4 * mag) * 1e11
    flux_err = 9.21034e10 * np.exp(-0.921034 * mag) * err
    order = np.lexsort((night, alert))
    alert, night, flux, flux_err = alert[order], night[order], flux[order], flux_err[order]
    if not len(alert):
        return alert, night, flux, flux_err
    start = np.flatnonzero(np.r_[True, (np.diff(alert) != 0) | (np.diff(night) != 0)])
    counts = np.diff(np.r_[start, len(alert)])
    mean_flux = np.add.reduceat(flux, start) / counts
    err_ok = ~np.isnan(flux_err)
    err_sum = np.add.reduceat(np.where(err_ok, flux_err, 0.0), start)
    err_n = np.add.reduceat(err_ok.astype(np.float64), start)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_err = err_sum / err_n
    return alert[start], night[start], mean_flux, mean_err


def _ewma_rises(alert: I64, flux: F64, window: float) -> npt.NDArray[np.bool_]:
    """Per point: the EWMA (adjusted, `com = window`) of its alert's flux does not decrease there."""
    alpha = 1.0 / (1.0 + window)
    rises = np.ones(len(flux), dtype=bool)
    start = np.flatnonzero(np.r_[True, np.diff(alert) != 0]) if len(alert) else np.zeros(0, np.int64)
    position = np.arange(len(flux)) - np.repeat(start, np.diff(np.r_[start, len(flux)]))
    if not len(flux):
        return rises
    # adjusted EWMA: y_k = sum_i (1-alpha)^(k-i) x_i / sum_i (1-alpha)^(k-i), per alert, by recursion
    num = np.zeros(len(flux))
    den = np.zeros(len(flux))
    for k in range(int(position.max()) + 1):
        at = np.flatnonzero(position == k)
        if k == 0:
            num[at], den[at] = flux[at], 1.0
        else:
            num[at] = (1 - alpha) * num[at - 1] + flux[at]
            den[at] = (1 - alpha) * den[at - 1] + 1.0
    ewma = num / den
    later = position > 0
    rises[later] = (ewma[1:] - ewma[:-1])[later[1:]] >= 0
    return rises


@dataclass(frozen=True)
class _Band:
    """One band's nightly points of the wanted alerts, grouped by alert, and which alerts can be fitted."""

    night: F64
    flux: F64
    err: F64
    starts: I64  # alert a's points are [starts[a], starts[a + 1])
    fit: npt.NDArray[np.bool_]


def _band(
    curves: LightCurves,
    band: int,
    wanted: npt.NDArray[np.bool_],
    min_data_points: int,
    min_rising_points: int,
    ewma_window: float,
    low_bound: float,
) -> _Band:
    """Steps 1-4 for one band, whole-array: the nightly points and which alerts pass to the fit."""
    alert, night, flux, err = _nightly(curves, band)
    keep = wanted[alert] & (flux > low_bound) & ~np.isnan(err)
    alert, night, flux, err = alert[keep], night[keep], flux[keep], err[keep]
    nights = np.bincount(alert, minlength=curves.n_alerts)
    rises = _ewma_rises(alert, flux, ewma_window)
    falls = np.bincount(alert[~rises], minlength=curves.n_alerts)
    fit = (nights >= max(min_data_points, min_rising_points)) & (falls == 0) & wanted
    return _Band(night, flux, err, np.r_[0, np.cumsum(nights)], fit)


# Fits of identical inputs give identical results: an object's g curve is the same in its g alert and in
# the r alert that follows it (history then holds the g point), and again in later micro-batches. Keyed
# by the exact bytes of (t, flux); bounded.
_FIT_CACHE: OrderedDict[bytes, tuple[float, float, float]] = OrderedDict()
_FIT_CACHE_SIZE = 20_000  # keys hold the nightly points (< 1 KB): ~20 MB at most per worker
_FIT_LOCK = threading.Lock()


def _fit_cached(t: F64, flux: F64) -> tuple[float, float, float]:
    """`fit_sigmoid(t, flux)`, remembered per process for the exact same inputs."""
    key = len(t).to_bytes(4, "little") + t.tobytes() + flux.tobytes()
    with _FIT_LOCK:
        hit = _FIT_CACHE.get(key)
        if hit is not None:
            _FIT_CACHE.move_to_end(key)
            return hit
    result = fit_sigmoid(t, flux)
    with _FIT_LOCK:
        _FIT_CACHE[key] = result
        if len(_FIT_CACHE) > _FIT_CACHE_SIZE:
            _FIT_CACHE.popitem(last=False)
    return result


def sigmoid_features(
    curves: LightCurves,
    rows: I64,
    *,
    min_data_points: int = 4,
    min_rising_points: int = 2,
    ewma_window: float = 3.0,
    low_bound: float = -10.0,
    both_bands: bool = False,
) -> F64:
    """The 12 features (`FEATURE_NAMES`) of the alerts `rows` (indices into the batch), one row each.

    `both_bands`: fit only alerts that can be fitted in g and in r (the others keep the no-fit values in
    both bands), for a score that is 0 anyway without both fits: skips fits whose result is never used.
    """
    out = np.tile(np.concatenate([FAKE, FAKE]), (len(rows), 1))
    wanted = np.zeros(curves.n_alerts, dtype=bool)
    wanted[rows] = True
    position = np.full(curves.n_alerts, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    bands = [
        _band(curves, band, wanted, min_data_points, min_rising_points, ewma_window, low_bound)
        for band in BANDS
    ]
    both = bands[0].fit & bands[1].fit
    for b, prepared in enumerate(bands):
        starts = prepared.starts
        for a in np.flatnonzero(both if both_bands else prepared.fit):
            s, e = starts[a], starts[a + 1]
            f, t = prepared.flux[s:e], prepared.night[s:e] - prepared.night[s]
            pa_, pb, pc_ = _fit_cached(t, f)
            pred = np.round(fsigmoid(t, pa_, pb, pc_), 4)
            pred[pred == 0.0] = 1e-5
            mse = float(np.mean((f / f.sum() - pred / pred.sum()) ** 2))
            snratio = float(np.mean(f / prepared.err[s:e]))
            out[position[a], 6 * b : 6 * b + 6] = [pa_, pb, pc_, snratio, mse, float(e - s)]
    return out
