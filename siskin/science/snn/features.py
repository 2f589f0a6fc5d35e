"""ZTF light curves as SuperNNova input sequences, the way the peer broker prepares them.

Reproduces fink-utils `format_data_as_snana` + supernnova `classify_lcs` (`format_data`,
`pivot_dataframe_single_from_df`, `normalize_arr`), vectorised over alerts:
  * points without magnitude (upper limits) are dropped; magnitudes become SNANA FLUXCAL
    (`1e11 * 10**(-0.4 m)`, error `9.21034e10 * exp(-0.921034 m) * sigma`);
  * points are sorted by time; a point opens a new epoch when it is the curve's first, has the same
    time as the previous point, or lies more than 0.33 d after the epoch's opening time;
  * per epoch and band the point with the smallest FLUXCALERR is kept; one row per epoch with
    FLUXCAL/FLUXCALERR in g and r (0 when absent), `delta_time` to the previous epoch, and a one-hot
    of the bands present (`g`, `gr`, `r`; an i-only epoch is all zeros);
  * values are rounded to float32 (as the peer's pivot does), then clipped at the training minimum,
    `log(x - min + 1e-5)` and standardised with the model's `data_norm.json`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

EPOCH_GAP_DAYS = 0.33
FEATURES = ("FLUXCAL_g", "FLUXCAL_r", "FLUXCALERR_g", "FLUXCALERR_r", "delta_time", "g", "gr", "r")
NORMALISED = FEATURES[:5]


@dataclass(frozen=True)
class Sequences:
    """Padded model inputs: `x` (time, alert, feature) float64 and each alert's sequence length."""

    x: F64
    lengths: I64


def fluxcal(mag: F64, err: F64) -> tuple[F64, F64]:
    """SNANA FLUXCAL and its error from a magnitude and its 1-sigma error (fink-utils' formula)."""
    flux = 10 ** (-0.4 * mag) * 10**11
    flux_err = 9.21034 * 10**10 * np.exp(-0.921034 * mag) * err
    return flux, flux_err


def _epochs(alert: I64, jd: F64) -> F64:
    """The epoch time of each point (points sorted by alert then time), the peer's sequential rule."""
    n = len(alert)
    if n == 0:
        return np.zeros(0)
    starts = np.flatnonzero(np.r_[True, alert[1:] != alert[:-1]])
    counts = np.diff(np.r_[starts, n])
    dt = np.r_[0.0, np.diff(jd)]
    dt[starts] = 0.0
    # walk the curves position by position, all curves at once (no per-alert loop)
    grouped = np.empty(n)
    last = np.zeros(len(starts))
    for pos in range(int(counts.max())):
        live = np.flatnonzero(counts > pos)
        idx = starts[live] + pos
        t = jd[idx]
        new = (dt[idx] == 0) | (t - last[live] > EPOCH_GAP_DAYS)
        grouped[idx] = np.where(new, t, grouped[idx - 1] if pos else t)
        last[live] = np.where(new, t, last[live])
    return grouped


def sequences(alert: I64, jd: F64, fid: I64, mag: F64, err: F64, n_alerts: int, norm: F64) -> Sequences:
    """Model inputs for `n_alerts` light curves given as flat points (`alert` = owning row).

    `norm` is (5, 3): min, mean, std of the normalised features in `NORMALISED` order.
    Alerts without any point get length 0.
    """
    keep = ~(np.isnan(jd) | np.isnan(mag) | np.isnan(err))
    alert, jd, fid, mag, err = alert[keep], jd[keep], fid[keep], mag[keep], err[keep]
    flux, flux_err = fluxcal(mag, err)
    order = np.lexsort((jd, alert))
    alert, jd, fid, flux, flux_err = alert[order], jd[order], fid[order], flux[order], flux_err[order]
    epoch = _epochs(alert, jd)
    # per (alert, epoch, band): the point with the smallest error
    order = np.lexsort((flux_err, fid, epoch, alert))
    a, e, f = alert[order], epoch[order], fid[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (e[1:] != e[:-1]) | (f[1:] != f[:-1])]
    pick = order[first]
    a, e, f, fl, fe = alert[pick], epoch[pick], fid[pick], flux[pick], flux_err[pick]
    # one row per (alert, epoch), in time order
    row_start = np.r_[True, (a[1:] != a[:-1]) | (e[1:] != e[:-1])]
    row = np.cumsum(row_start) - 1
    n_rows = int(row[-1]) + 1 if len(row) else 0
    table = np.zeros((n_rows, len(FEATURES)))
    for band, (c_flux, c_err) in ((1, (0, 2)), (2, (1, 3))):
        sel = f == band
        table[row[sel], c_flux] = fl[sel]
        table[row[sel], c_err] = fe[sel]
    has_g = np.zeros(n_rows, dtype=bool)
    has_r = np.zeros(n_rows, dtype=bool)
    has_g[row[f == 1]] = True
    has_r[row[f == 2]] = True
    table[:, 5] = has_g & ~has_r
    table[:, 6] = has_g & has_r
    table[:, 7] = has_r & ~has_g
    row_alert = a[row_start]
    row_epoch = e[row_start]
    new_curve = np.r_[True, row_alert[1:] != row_alert[:-1]]
    delta = np.r_[0.0, np.diff(row_epoch)]
    delta[new_curve] = 0.0
    table[:, 4] = delta
    # the peer's pivot stores float32; its normalisation then runs in float64
    values = table[:, :5].astype(np.float32).astype(np.float64)
    lo, mean, std = norm[:, 0], norm[:, 1], norm[:, 2]
    values = np.clip(values, lo, np.inf)
    table[:, :5] = (np.log(values - lo + 1e-5) - mean) / std
    table = table.astype(np.float32).astype(np.float64)  # the model's input tensor is float32
    lengths = np.bincount(row_alert, minlength=n_alerts).astype(np.int64)
    pos = np.arange(n_rows) - np.r_[0, np.cumsum(lengths)][row_alert]
    x = np.zeros((int(lengths.max()) if n_alerts and n_rows else 0, n_alerts, len(FEATURES)))
    x[pos, row_alert] = table
    return Sequences(x, lengths)
