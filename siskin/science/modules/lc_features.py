"""`lc_features`: per-band light-curve features of each ZTF alert (history + current candidate).

Two kinds of output, both per band (g = `fid` 1, r = `fid` 2):

* `lc_features_g`, `lc_features_r`: the 26 `light-curve` features the reference broker (Fink,
  fink-science `ad_features`) computes for its anomaly models, as a struct of named float64 under the
  broker's own column names. The broker's recipe: detections are the rows with a magnitude and an
  error (upper limits dropped); when any detection lies on a reference-catalog source
  (`0 <= distnr <= 1.5` px) every detection of the alert is turned into an apparent (DC) magnitude
  (reference flux +/- difference flux, ZTF Explanatory Supplement p.107) and those it cannot convert
  (no reference magnitude, negative flux) are dropped; each band's points are sorted by time and
  passed to one `light_curve.Extractor`. A band the alert has no row of (no detection, no upper limit)
  is null, as the broker leaves it out; a band with rows but no usable detection has every feature
  NaN (the broker keeps it: its anomaly score then needs both bands present, see `anomaly`);
  features a band has too few points for are NaN.
* Typed summaries of the difference-image magnitudes (`magpsf`, as ZTF measured them, no DC
  conversion), per band: detections, amplitude, rise and decline rates, days since first detection;
  and the g-r colour.

Every alert's light curves go to `light_curve` in one `Extractor.many` call over an Arrow list array;
the rest is numpy over the flattened history (no per-alert Python).
"""

from __future__ import annotations

from collections.abc import Mapping

import light_curve as lc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science.base import ModuleConfig, Output, ScienceModule
from siskin.science.paths import input_column
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS

BANDS: dict[str, int] = {"g": 1, "r": 2}
SOURCE_BEHIND_MAX_PIXELS = 1.5  # the broker's `is_source_behind`: a catalog source within 1.5 px


def extractor() -> lc.Extractor:
    """The reference broker's feature set (Malanchev et al. 2021, arXiv:2012.01419, appendix A)."""
    return lc.Extractor(
        lc.Mean(),
        lc.WeightedMean(),
        lc.StandardDeviation(),
        lc.Median(),
        lc.Amplitude(),
        lc.BeyondNStd(nstd=1),
        lc.Cusum(),
        lc.InterPercentileRange(quantile=0.1),
        lc.Kurtosis(),
        lc.LinearTrend(),
        lc.LinearFit(),
        lc.MagnitudePercentageRatio(quantile_numerator=0.4, quantile_denominator=0.05),
        lc.MagnitudePercentageRatio(quantile_numerator=0.2, quantile_denominator=0.1),
        lc.MaximumSlope(),
        lc.MedianAbsoluteDeviation(),
        lc.MedianBufferRangePercentage(quantile=0.1),
        lc.PercentAmplitude(),
        lc.MeanVariance(),
        lc.AndersonDarlingNormal(),
        lc.ReducedChi2(),
        lc.Skew(),
        lc.StetsonK(),
    )


EXTRACTOR_NAMES: tuple[str, ...] = tuple(extractor().names)
FEATURE_NAMES: tuple[str, ...] = tuple(sorted(EXTRACTOR_NAMES))  # the broker's newer column order
FEATURES_TYPE = pa.struct([pa.field(name, pa.float64()) for name in FEATURE_NAMES])

HISTORY_FIELDS = ("jd", "fid", "magpsf", "sigmapsf", "distnr", "magnr", "sigmagnr", "isdiffpos")


class LcFeaturesConfig(ModuleConfig):
    """Colour pairing window and the threads `light_curve` may use (1: Spark already runs a task per core)."""

    color_max_days: float = Field(default=1.0, gt=0)
    n_jobs: int = Field(default=1, ge=1)


class Points:
    """Every alert's measurements (history first, then the current candidate), flattened, as numpy."""

    def __init__(self, batch: pa.Table) -> None:
        n = batch.num_rows
        history = {name: input_column(batch, f"prv_candidates.{name}") for name in HISTORY_FIELDS}
        first = history["jd"]
        assert first is not None  # the runner checked the inputs
        parents = np.concatenate([pc.list_parent_indices(first).to_numpy(), np.arange(n)])
        order = np.argsort(parents, kind="stable")  # per alert: its history in packet order, then itself
        self.n = n
        self.now = batch.column("jd").to_numpy().astype(np.float64)
        self.parent = parents[order]
        columns: dict[str, np.ndarray] = {}
        for name in HISTORY_FIELDS:
            past = history[name]
            assert past is not None
            values = pc.list_flatten(past)
            current = batch.column(name)
            if name == "isdiffpos":
                joined = pa.concat_arrays([values, current.combine_chunks()])
                positive = pc.fill_null(pc.is_in(joined, pa.array(["t", "1"])), False)
                columns[name] = positive.to_numpy(zero_copy_only=False)
            else:
                past_np = values.to_numpy(zero_copy_only=False).astype(np.float64)
                now_np = current.to_numpy().astype(np.float64)
                columns[name] = np.concatenate([past_np, now_np])
            columns[name] = columns[name][order]
        self.jd = columns["jd"]
        self.fid = columns["fid"]
        self.mag = columns["magpsf"]
        self.sigma = columns["sigmapsf"]
        self.distnr = columns["distnr"]
        self.magnr = columns["magnr"]
        self.sigmagnr = columns["sigmagnr"]
        self.positive = columns["isdiffpos"].astype(bool)
        self.detected = np.isfinite(self.mag) & np.isfinite(self.sigma) & np.isfinite(self.jd)


def dc_magnitudes(points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitudes, errors and validity as the broker feeds its features (DC where a source is behind)."""
    valid = points.detected
    behind_rows = valid & (points.distnr >= 0) & (points.distnr <= SOURCE_BEHIND_MAX_PIXELS)
    behind = np.bincount(points.parent[behind_rows], minlength=points.n)[: points.n] > 0
    convert = valid & behind[points.parent]
    mag, sigma = points.mag.copy(), points.sigma.copy()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        magnr = np.where(points.magnr < 0.0, np.nan, points.magnr)[convert]
        diff_flux = 10 ** (-0.4 * points.mag[convert])
        diff_sig = (points.sigma[convert] / 1.0857) * diff_flux
        ref_flux = 10 ** (-0.4 * magnr)
        ref_sig = (points.sigmagnr[convert] / 1.0857) * ref_flux
        flux = np.where(points.positive[convert], ref_flux + diff_flux, ref_flux - diff_flux)
        sig_flux = np.sqrt(diff_sig**2 + ref_sig**2)
        mag[convert] = -2.5 * np.log10(flux)
        sigma[convert] = sig_flux / flux * 1.0857
    return mag, sigma, valid & np.isfinite(mag) & np.isfinite(sigma)


def _one_epoch(parent: np.ndarray, jd: np.ndarray) -> np.ndarray:
    """Per row (sorted by alert, then time): whether its alert's curve has several points all at one time.

    `light-curve` panics on such a curve (a time span of zero); its features are left NaN instead.
    """
    if not len(parent):
        return np.zeros(0, bool)
    alerts, first, counts = np.unique(parent, return_index=True, return_counts=True)
    last = first + counts - 1
    flat = (counts > 1) & (jd[first] == jd[last])
    return np.repeat(flat, counts)


def broker_features(points: Points, n_jobs: int = 1) -> dict[str, pa.Array]:
    """`lc_features_g` / `lc_features_r`: one `Extractor.many` call over every (alert, band) curve."""
    mag, sigma, valid = dc_magnitudes(points)
    out: dict[str, pa.Array] = {}
    curves: list[tuple[str, np.ndarray, np.ndarray]] = []  # band, alerts having it, row order
    for band, fid in BANDS.items():
        rows = np.flatnonzero(valid & (points.fid == fid))
        rows = rows[np.lexsort((points.jd[rows], points.parent[rows]))]
        rows = rows[~_one_epoch(points.parent[rows], points.jd[rows])]
        curves.append((band, np.unique(points.parent[rows]), rows))
    rows_all = np.concatenate([rows for _, _, rows in curves])
    counts = np.concatenate(
        [np.bincount(points.parent[rows], minlength=points.n)[alerts] for _, alerts, rows in curves]
    )
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = pa.StructArray.from_arrays(
        [pa.array(points.jd[rows_all]), pa.array(mag[rows_all]), pa.array(sigma[rows_all])],
        names=["t", "m", "sigma"],
    )
    if len(counts):
        table = extractor().many(
            pa.ListArray.from_arrays(pa.array(offsets), values),
            fill_value=np.nan,
            sorted=True,
            arrow_fields={"t": "t", "m": "m", "sigma": "sigma"},
            n_jobs=n_jobs,
        )
    else:
        table = np.empty((0, len(EXTRACTOR_NAMES)))
    table = np.asarray(table, np.float64).reshape(-1, len(EXTRACTOR_NAMES))
    start = 0
    for band, alerts, _ in curves:
        block = table[start : start + len(alerts)]
        start += len(alerts)
        # the broker keeps a band an alert has any row of (detection or upper limit), NaN without detections
        present = np.bincount(points.parent[points.fid == BANDS[band]], minlength=points.n)[: points.n] > 0
        full = np.full((points.n, len(EXTRACTOR_NAMES)), np.nan)
        full[alerts] = block
        by_name = dict(zip(EXTRACTOR_NAMES, full.T, strict=True))
        fields = [pa.array(by_name[name], pa.float64()) for name in FEATURE_NAMES]
        mask = pa.array(~present)
        out[f"lc_features_{band}"] = pa.StructArray.from_arrays(fields, fields=list(FEATURES_TYPE), mask=mask)
    return out


def band_summaries(points: Points, config: LcFeaturesConfig) -> dict[str, pa.Array]:
    """Detections, amplitude, rise and decline rates, age per band, and g-r colour, from `magpsf`."""
    n = points.n
    now = points.now
    out: dict[str, pa.Array] = {}
    latest: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    first_any = np.full(n, np.inf)
    for band, fid in BANDS.items():
        rows = np.flatnonzero(points.detected & (points.fid == fid))
        rows = rows[np.lexsort((points.jd[rows], points.parent[rows]))]
        parent, jd, mag = points.parent[rows], points.jd[rows], points.mag[rows]
        ndet = np.bincount(parent, minlength=n)[:n]
        alerts, first = np.unique(parent, return_index=True)  # rows are sorted by alert
        last = np.append(first[1:], len(rows)) - 1
        t_first, t_last = np.full(n, np.nan), np.full(n, np.nan)
        m_first, m_last = np.full(n, np.nan), np.full(n, np.nan)
        brightest, faintest = np.full(n, np.nan), np.full(n, np.nan)
        t_peak = np.full(n, np.nan)
        if len(rows):
            t_first[alerts], t_last[alerts] = jd[first], jd[last]
            m_first[alerts], m_last[alerts] = mag[first], mag[last]
            brightest[alerts] = np.minimum.reduceat(mag, first)
            faintest[alerts] = np.maximum.reduceat(mag, first)
            # the first time the band reached its brightest magnitude
            at_peak = mag == brightest[parent]
            peak_rows = np.flatnonzero(at_peak)
            peak_alerts, peak_first = np.unique(parent[peak_rows], return_index=True)
            t_peak[peak_alerts] = jd[peak_rows[peak_first]]
        with np.errstate(invalid="ignore", divide="ignore"):
            rise = np.where(t_peak > t_first, (m_first - brightest) / (t_peak - t_first), np.nan)
            decline = np.where(t_last > t_peak, (m_last - brightest) / (t_last - t_peak), np.nan)
        out[f"lc_ndet_{band}"] = pa.array(ndet.astype(np.int32), pa.int32())
        out[f"lc_amplitude_{band}"] = pa.array(faintest - brightest, pa.float64(), from_pandas=True)
        out[f"lc_rise_rate_{band}"] = pa.array(rise, pa.float64(), from_pandas=True)
        out[f"lc_decline_rate_{band}"] = pa.array(decline, pa.float64(), from_pandas=True)
        out[f"lc_days_since_first_{band}"] = pa.array(now - t_first, pa.float64(), from_pandas=True)
        latest[band] = (t_last, m_last)
        first_any = np.fmin(first_any, np.where(np.isnan(t_first), np.inf, t_first))
    (t_g, m_g), (t_r, m_r) = latest["g"], latest["r"]
    paired = np.abs(t_g - t_r) <= config.color_max_days
    out["lc_color_gr"] = pa.array(np.where(paired, m_g - m_r, np.nan), pa.float64(), from_pandas=True)
    since = np.where(np.isinf(first_any), np.nan, now - first_any)
    out["lc_days_since_first"] = pa.array(since, pa.float64(), from_pandas=True)
    return out


def _band_outputs(band: str) -> tuple[Output, ...]:
    return (
        Output(f"lc_ndet_{band}", pa.int32(), f"{band}-band detections in the alert (history + current)"),
        Output(
            f"lc_amplitude_{band}",
            pa.float64(),
            f"{band}-band faintest minus brightest magpsf over the detections (mag); null without any",
        ),
        Output(
            f"lc_rise_rate_{band}",
            pa.float64(),
            f"{band}-band brightening from the first detection to the brightest (mag/day, > 0 rising); "
            "null when the first detection is the brightest",
        ),
        Output(
            f"lc_decline_rate_{band}",
            pa.float64(),
            f"{band}-band fading from the brightest detection to the last (mag/day, > 0 fading); "
            "null when the last detection is the brightest",
        ),
        Output(
            f"lc_days_since_first_{band}",
            pa.float64(),
            f"days from the first {band}-band detection to this alert; null without any",
        ),
    )


@register
class LcFeatures(ScienceModule):
    """Per-band light-curve features (the reference broker's) and summaries (rates, amplitude, colour)."""

    name = "lc_features"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = (*HISTORY_FIELDS, *(f"prv_candidates.{name}" for name in HISTORY_FIELDS))
    outputs = (
        Output(
            "lc_features_g", FEATURES_TYPE, "g-band light-curve features of the reference broker (DC mag)"
        ),
        Output(
            "lc_features_r", FEATURES_TYPE, "r-band light-curve features of the reference broker (DC mag)"
        ),
        *_band_outputs("g"),
        *_band_outputs("r"),
        Output(
            "lc_color_gr",
            pa.float64(),
            "latest g minus latest r magpsf, when taken within color_max_days of each other",
        ),
        Output(
            "lc_days_since_first", pa.float64(), "days from the first detection in any band to this alert"
        ),
    )
    Config = LcFeaturesConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Flatten history + candidate once, then the broker's features and the summaries."""
        c = self.config
        assert isinstance(c, LcFeaturesConfig)
        points = Points(batch)
        return broker_features(points, c.n_jobs) | band_summaries(points, c)
