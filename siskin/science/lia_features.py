"""The 47 LIA statistics of one band's light curve, as the peer broker's microlensing classifier uses them.

The peer (fink-science `mulens`) calls LIA's `extract_features.extract_all(mag, magerr, convert=True)`
from the FINK branch of LIA (github.com/JulienPeloton/LIA): magnitudes become flux with zero point 24,
three amplitude features are taken on the flux, the rest on the flux divided by its maximum; several
are tsfresh calculators. Each is written here from its definition with numpy/scipy (tsfresh is not a
dependency; `sample_entropy` follows tsfresh >= 0.16, `peak_detection` uses `peakutils` as LIA does).
Infinite or NaN statistics become 0, as in LIA. One call per light curve: the module calls it only for
alerts with >= 10 detections in a band, which are few.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import erf

F64 = npt.NDArray[np.float64]

FEATURE_NAMES = tuple(
    "above1 above3 above5 abs_energy abs_sum_changes amplitude auto_corr below1 below3 below5 c3 "
    "has_duplicate has_duplicate_max has_duplicate_min last_loc_max last_loc_min complexity con con2 "
    "count_above count_below first_loc_max first_loc_min integrate kurtosis longest_strike_above "
    "longest_strike_below mean_abs_change mean_change mean_second_derivative median_abs_dev "
    "median_buffer_range median_buffer_range2 peak_detection ratio_recurring_points root_mean_squared "
    "sample_entropy shannon_entropy skewness std std_over_mean stetson_j stetson_k stetson_l sum_values "
    "time_reversal_asymmetry von_neumann_ratio".split()
)
ZERO_POINT = 24.0


def _runs(mask: npt.NDArray[np.bool_]) -> int:
    """Length of the longest run of True."""
    if not mask.any():
        return 0
    padded = np.r_[0, mask.astype(np.int8), 0]
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def _episodes(x: F64, threshold: float) -> int:
    """LIA's `con`: sliding triples all at or below `threshold`, counted with its toggling flag."""
    if int((x < threshold).sum()) < 3:
        return 0
    count, deviating = 0, False
    low = x <= threshold
    for i in range(len(x) - 2):  # LIA's toggle depends on the previous triple: kept sequential
        if low[i] and low[i + 1] and low[i + 2]:
            if not deviating:
                count += 1
                deviating = True
            else:
                deviating = False
    return count


def _shannon_entropy(x: F64, err: F64) -> float:
    """LIA's Shannon entropy of normal and inverse-Gaussian cumulative probabilities."""
    mean = float(np.median(x))
    rms = abs(mean)
    delta = 2.0 * err
    with np.errstate(all="ignore"):

        def normal(v: F64) -> F64:
            return 0.5 * (1.0 + erf(v))

        def inverse(v: F64, w: F64) -> F64:
            return 0.5 * (1.0 + erf(v)) + 0.5 * np.e ** ((2.0 * rms) / mean) * (1.0 - erf(w))

        def positive(p: F64) -> F64:
            return np.where(p > 0, p, 1.0)

        p1 = positive(normal((x + err - mean) / (rms * np.sqrt(2))))
        p2 = positive(normal((x - err - mean) / (rms * np.sqrt(2))))
        hi, lo = x + err, x - err
        q1 = positive(
            inverse(
                np.sqrt(rms / (2.0 * hi)) * (hi / mean - 1.0), np.sqrt(rms / (2.0 * hi)) * (hi / mean + 1.0)
            )
        )
        q2 = positive(
            inverse(
                np.sqrt(rms / (2.0 * lo)) * (lo / mean - 1.0), np.sqrt(rms / (2.0 * lo)) * (lo / mean + 1.0)
            )
        )
        e1 = -np.sum(np.log2(p1) * delta + np.log2(p2) * delta)
        e2 = -np.sum(np.log2(q1) * delta + np.log2(q2) * delta)
    return float(np.nan_to_num(e1 + e2))


def _sample_entropy(x: F64) -> float:
    """tsfresh's sample entropy (m = 2, r = 0.2 std), version 0.16 and later."""
    tolerance = 0.2 * np.std(x)

    def matches(m: int) -> int:
        if len(x) < m:
            return 0
        chunks = np.lib.stride_tricks.sliding_window_view(x, m)
        distance = np.abs(chunks[:, None, :] - chunks[None, :, :]).max(axis=2)
        return int((distance <= tolerance).sum() - len(chunks))

    if np.isnan(x).any():
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.log(np.float64(matches(3)) / np.float64(matches(2))))


def _peaks(x: F64) -> int:
    """LIA's peak count: `peakutils.indexes(|x - median|, thres=0.5, min_dist=10)`."""
    import peakutils

    try:
        return len(peakutils.indexes(np.abs(x - np.median(x)), thres=0.5, min_dist=10))
    except ValueError:
        return 0


def extract(mag: F64, magerr: F64) -> F64:
    """The 47 statistics of one band (LIA FINK branch order), NaN and inf set to 0."""
    with np.errstate(all="ignore"):
        flux = 10 ** (-(mag - ZERO_POINT) / 2.5)
        flux_err = (magerr * flux) / 2.5 * np.log(10)
        n = float(len(flux))
        amp = float(np.percentile(flux, 98) - np.percentile(flux, 2))
        med_raw = float(np.median(flux))
        buffer1 = len(np.argwhere((flux > med_raw - amp / 10.0) & (flux < med_raw + amp / 10.0))) / n
        buffer2 = len(np.argwhere(flux < med_raw - amp / 5.0)) / n
        x = flux / np.max(flux)
        e = flux_err * (x / flux)
        med, std, mean = float(np.median(x)), float(np.std(x)), float(np.mean(x))
        d = np.diff(x)
        scaled = np.sqrt(n / (n - 1.0)) * ((x - med) / e)
        products = np.nan_to_num(scaled[:-1] * scaled[1:])
        stet_j = float(np.sum(np.sign(products) * np.sqrt(np.abs(products))))
        stet_k = float(np.nan_to_num((np.sum(np.abs(scaled)) / n) / np.sqrt(np.sum(scaled**2) / n)))
        normalised = (x - mean) / std if std != 0 else x
        values, counts = np.unique(x, return_counts=True)
        lag1, lag2 = x[1:-1], x[2:]
        stats = [
            np.sum(x > med + std),  # above1
            np.sum(x > med + 3 * std),  # above3
            np.sum(x > med + 5 * std),  # above5
            np.sum(x * x),  # abs_energy
            np.sum(np.abs(d)),  # absolute_sum_of_changes
            amp,
            np.corrcoef(x[:-1], x[1:])[1, 0],  # auto_corr
            np.sum(x < med - std),  # below1
            np.sum(x < med - 3 * std),  # below3
            np.sum(x < med - 5 * std),  # below5
            np.mean(lag2 * lag1 * x[:-2]) if len(x) > 2 else 0.0,  # c3, lag 1
            float(len(values) != len(x)),  # has_duplicate
            float(np.sum(x == np.max(x)) >= 2),  # has_duplicate_max
            float(np.sum(x == np.min(x)) >= 2),  # has_duplicate_min
            1.0 - np.argmax(x[::-1]) / n,  # last_location_of_maximum
            1.0 - np.argmin(x[::-1]) / n,  # last_location_of_minimum
            np.sqrt(np.sum(np.diff(normalised) ** 2)),  # cid_ce, normalised
            _episodes(x, med - 3 * std),  # con
            _episodes(x, med - 2 * std),  # con2
            np.sum(x > mean),  # count_above_mean
            np.sum(x < mean),  # count_below_mean
            np.argmax(x) / n,  # first_location_of_maximum
            np.argmin(x) / n,  # first_location_of_minimum
            np.trapezoid(x),  # integrate
            (n * (n + 1.0) / ((n - 1.0) * (n - 2.0) * (n - 3.0)) * np.sum(((x - med) / std) ** 4))
            - (3.0 * ((n - 1.0) ** 2) / ((n - 2.0) * (n - 3.0))),  # kurtosis
            _runs(x > mean),  # longest_strike_above_mean
            _runs(x < mean),  # longest_strike_below_mean
            np.mean(np.abs(d)),  # mean_abs_change
            (x[-1] - x[0]) / (n - 1.0),  # mean_change
            (x[-1] - x[-2] - x[1] + x[0]) / (2.0 * (n - 2.0)),  # mean_second_derivative_central
            np.median(np.abs(x - med)),  # medianAbsDev
            buffer1,
            buffer2,
            _peaks(x),  # peak_detection
            np.sum(counts > 1) / float(len(counts)),  # percentage_of_reoccurring_values_to_all_values
            abs(med),  # root_mean_squared (LIA: sqrt(median^2))
            _sample_entropy(x),
            _shannon_entropy(x, e),
            (1.0 / n) * np.sum((x - med) ** 3 / std**3),  # skewness
            std,
            std / med,  # std_over_mean (LIA divides by the median)
            stet_j,
            stet_k,
            (stet_j * stet_k) / 0.798,  # stetsonL
            np.sum(x),  # sum_values
            np.mean(lag2 * lag2 * lag1 - lag1 * x[:-2] * x[:-2]) if len(x) > 2 else 0.0,  # time reversal
            np.sum(d**2 / (n - 1.0)) / std**2,  # vonNeumannRatio
        ]
        out = np.asarray(stats, dtype=np.float64)
    out[~np.isfinite(out)] = 0.0
    return out
