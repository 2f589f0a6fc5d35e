"""`anomaly_score`: the reference broker's (Fink) anomaly score, from its published ONNX forests.

The broker's definition (fink-science `anomaly_detection`, default model), reproduced here:
* an alert gets a score only when both bands are present in its features (`lc_features_g` and
  `lc_features_r` not null: the alert has rows, detections or upper limits, in both bands); otherwise
  its score is 0.0. A present band without a usable detection has all-NaN features;
* 18 of the 26 features per band (`MODEL_COLUMNS`) feed two isolation forests (AAD), one per band;
  a feature the band had too few points for (NaN) is replaced by that band's training mean
  (`g_means.csv`, `r_means.csv`);
* the broker hands the features of ZTF `fid` 1 (g) to its forest named `forest_r` and those of
  `fid` 2 (r) to `forest_g` (its `get_key(x, 1)` feeds `data_r`): Siskin does the same, since the
  point is the broker's score;
* the score is the mean of the two forests' outputs, computed in float32 as the broker does; lower is
  more anomalous.

The models and means are vendored under `siskin/science/artefacts/fink_anomaly` (see its README.md)
and read with importlib.resources; each process loads them once.
"""

from __future__ import annotations

import csv
import io
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.science.base import Output, ScienceError, ScienceModule
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS

ARTEFACTS = "artefacts/fink_anomaly"
MODEL_ZIP = "anomaly_detection_forest_AAD.zip"
MODEL_COLUMNS: tuple[str, ...] = (
    "amplitude",
    "anderson_darling_normal",
    "beyond_1_std",
    "chi2",
    "cusum",
    "kurtosis",
    "linear_fit_slope",
    "linear_fit_slope_sigma",
    "linear_trend_noise",
    "linear_trend_sigma",
    "magnitude_percentage_ratio_20_10",
    "magnitude_percentage_ratio_40_5",
    "maximum_slope",
    "median",
    "median_absolute_deviation",
    "median_buffer_range_percentage_10",
    "skew",
    "stetson_K",
)


@dataclass(frozen=True)
class Forests:
    """The two ONNX sessions and the per-feature means that fill missing features."""

    forest_g: Any  # onnxruntime.InferenceSession
    forest_r: Any
    g_means: np.ndarray  # float64, MODEL_COLUMNS order
    r_means: np.ndarray


_lock = threading.Lock()
_loaded: list[Forests] = []


def _means(name: str) -> np.ndarray:
    """A means CSV (`feature,value` rows after a header) in `MODEL_COLUMNS` order."""
    text = files("siskin.science").joinpath(f"{ARTEFACTS}/{name}").read_text()
    rows = {r[0]: float(r[1]) for r in list(csv.reader(io.StringIO(text)))[1:] if r}
    missing = [c for c in MODEL_COLUMNS if c not in rows]
    if missing:
        raise ScienceError(f"anomaly model means {name} lack {missing}")
    return np.array([rows[c] for c in MODEL_COLUMNS], np.float64)


def forests() -> Forests:
    """The default model, loaded once per process from the package's artefacts."""
    with _lock:
        if not _loaded:
            import onnxruntime as rt

            options = rt.SessionOptions()
            options.intra_op_num_threads = 1  # Spark already runs one task per core
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # the forests declare a 1-d score and return (n, 1): a warning
            data = files("siskin.science").joinpath(f"{ARTEFACTS}/{MODEL_ZIP}").read_bytes()
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                sessions = {
                    band: rt.InferenceSession(
                        archive.read(f"forest_{band}_AAD.onnx"), options, providers=["CPUExecutionProvider"]
                    )
                    for band in ("g", "r")
                }
            _loaded.append(
                Forests(sessions["g"], sessions["r"], _means("g_means.csv"), _means("r_means.csv"))
            )
        return _loaded[0]


def feature_matrix(features: pa.Array, means: np.ndarray) -> np.ndarray:
    """The model's float32 input: `MODEL_COLUMNS` of a features struct, NaN and null filled by `means`."""
    columns = []
    for name, mean in zip(MODEL_COLUMNS, means, strict=True):
        values = pc.struct_field(features, name).to_numpy(zero_copy_only=False).astype(np.float64)
        columns.append(np.where(np.isnan(values), mean, values))
    return np.stack(columns, axis=1).astype(np.float32) if columns else np.empty((0, 0), np.float32)


def scores(features_g: pa.Array, features_r: pa.Array) -> np.ndarray:
    """The broker's anomaly score per alert (0.0 unless both bands have features)."""
    model = forests()
    both = pc.and_(features_g.is_valid(), features_r.is_valid()).to_numpy(zero_copy_only=False)
    out = np.zeros(len(features_g), np.float64)
    if not both.any():
        return out
    rows = pa.array(np.flatnonzero(both))
    fid1, fid2 = features_g.take(rows), features_r.take(rows)
    # the broker's pairing: ZTF fid 1 (g) -> its `forest_r`, fid 2 (r) -> its `forest_g`
    x_r = feature_matrix(fid1, model.r_means)
    x_g = feature_matrix(fid2, model.g_means)
    score_g = np.asarray(model.forest_g.run(None, {"X": x_g})[-1], np.float32).reshape(-1)
    score_r = np.asarray(model.forest_r.run(None, {"X": x_r})[-1], np.float32).reshape(-1)
    out[both] = ((score_g + score_r) / np.float32(2)).astype(np.float64)
    return out


@register
class AnomalyScore(ScienceModule):
    """The reference broker's anomaly score (AAD isolation forests, ONNX), from `lc_features`."""

    name = "anomaly"
    version = "1.0.0+fink-science-7.4.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("lc_features_g", "lc_features_r")
    outputs = (
        Output(
            "anomaly_score",
            pa.float64(),
            "reference broker's anomaly score (lower: more anomalous); 0.0 unless both g and r have features",
        ),
    )

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Score the alerts whose g and r features are both present; the others get 0.0."""
        g = batch.column("lc_features_g").combine_chunks()
        r = batch.column("lc_features_r").combine_chunks()
        return {"anomaly_score": pa.array(scores(g, r), pa.float64())}
