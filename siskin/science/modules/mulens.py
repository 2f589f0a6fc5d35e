"""`mulens`: the microlensing score, the peer broker's LIA random forest over per-band statistics.

The peer's rule (fink-science `mulens`), applied in this order:
  0  `ndethist >= max_ndethist` (100), or fewer than `min_points` (20) magnitudes in the alert;
  per band g, r with at least `min_band_points` (10) magnitudes: the DC magnitude of each detection
     (reference flux `10**(-0.4 magnr)` plus or minus the difference flux by `isdiffpos`, as
     fink-utils `dc_mag`), LIA's 47 statistics (`lia_features.py`), and the forest's class and
     probability of ML;
  p  when both bands are classified ML: the mean of their ML probabilities; 0 otherwise (a band
     with too few points is not ML).
So statistics are computed only for alerts with enough points in both bands, the second band only
where the first is ML, and remembered per process for identical points (the scores are the same).
The forest is the peer's `rf.sav` (fink-science 7.4.0, Apache-2.0), exported to `artefacts/mulens/`
by `siskin train mulens --from-peer` and evaluated with numpy (`forest.py`).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science import lia_features
from siskin.science.base import ModuleConfig, Output, ScienceError, ScienceModule
from siskin.science.forest import Forest, artefact_bytes, from_bytes
from siskin.science.paths import input_column
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS

ARTEFACTS = "artefacts/mulens"
BANDS = (1, 2)
_lock = threading.Lock()
_cache: dict[str, tuple[Forest, int]] = {}
FIELDS = ("fid", "magpsf", "sigmapsf", "magnr", "sigmagnr", "isdiffpos")


class MulensConfig(ModuleConfig):
    """Cuts (defaults: the peer broker's) and which artefact to load."""

    max_ndethist: int = 100
    min_points: int = Field(default=20, ge=1)
    min_band_points: int = Field(default=10, ge=3)
    model: str = "model.json"


def card(name: str = "model.json") -> dict[str, Any]:
    """The artefact's machine-readable card."""
    loaded = json.loads(files("siskin.science").joinpath(f"{ARTEFACTS}/{name}").read_text())
    if not isinstance(loaded, dict):
        raise ScienceError(f"{ARTEFACTS}/{name} is not a model card")
    return loaded


def forest(name: str = "model.json") -> tuple[Forest, int]:
    """The forest named by card `name` and the index of its ML class, loaded once per process."""
    with _lock:
        if name not in _cache:
            meta = card(name)
            if list(meta["features"]) != list(lia_features.FEATURE_NAMES):
                raise ScienceError(f"{ARTEFACTS}/{name}: features are not LIA's 47")
            data = artefact_bytes("siskin.science", f"{ARTEFACTS}/{meta['file']}", meta["sha256"])
            _cache[name] = (from_bytes(data), list(meta["classes"]).index("ML"))
        return _cache[name]


def _points(batch: pa.Table) -> dict[str, np.ndarray]:
    """History then current values of each field, flat, with the alert index of every point."""
    out: dict[str, np.ndarray] = {}
    for name in FIELDS:
        history = input_column(batch, f"prv_candidates.{name}")
        assert history is not None  # the runner checked the inputs
        values = pc.list_flatten(history)
        current = batch.column(name).combine_chunks()
        if name == "isdiffpos":
            positive = pa.array(["t", "1"])
            both = [pc.fill_null(pc.is_in(v, positive), False) for v in (values, current)]
            out[name] = np.concatenate([b.to_numpy(zero_copy_only=False) for b in both])
        else:
            out[name] = np.concatenate(
                [np.asarray(v.to_numpy(zero_copy_only=False), dtype=np.float64) for v in (values, current)]
            )
        if name == "fid":
            parents = np.asarray(pc.list_parent_indices(history), dtype=np.int64)
            out["alert"] = np.concatenate([parents, np.arange(batch.num_rows, dtype=np.int64)])
    return out


def dc_magnitudes(p: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Apparent (DC) magnitude and error of every point (NaN where `magnr` < 0 or absent)."""
    with np.errstate(all="ignore"):
        diff = 10 ** (-0.4 * p["magpsf"])
        diff_err = (p["sigmapsf"] / 1.0857) * diff
        ref = 10 ** (-0.4 * p["magnr"])
        ref_err = (p["sigmagnr"] / 1.0857) * ref
        flux = np.where(p["isdiffpos"], ref + diff, ref - diff)
        flux = np.where(p["magnr"] < 0, np.nan, flux)
        err = np.sqrt(diff_err**2 + ref_err**2)
        return -2.5 * np.log10(flux), err / flux * 1.0857


def mulens_scores(batch: pa.Table, config: MulensConfig) -> np.ndarray:
    """Microlensing score per alert (float64; 0 where cut or not ML in both bands)."""
    p = _points(batch)
    valid = ~np.isnan(p["magpsf"])
    n = batch.num_rows
    counts = np.bincount(p["alert"][valid], minlength=n)
    ndethist = batch.column("ndethist").to_numpy().astype(np.float64)
    eligible = (ndethist < config.max_ndethist) & (counts >= config.min_points)
    scores = np.zeros(n, dtype=np.float64)
    if not eligible.any():
        return scores
    mag, err = dc_magnitudes(p)
    rows = np.flatnonzero(eligible)
    model, ml = forest(config.model)
    uses = [valid & (p["fid"] == band) & eligible[p["alert"]] for band in BANDS]
    enough = [np.bincount(p["alert"][use], minlength=n) >= config.min_band_points for use in uses]
    # the score needs both bands ML: an alert short of points in either band scores 0 without features,
    # and the second band is classified only where the first one is ML
    candidates = rows[enough[0][rows] & enough[1][rows]]
    per_band: list[np.ndarray] = []  # per band: ML probability, NaN where the band is not ML
    for use in uses:
        order = np.argsort(p["alert"][use], kind="stable")  # alert order, history order kept
        alerts, m, e = p["alert"][use][order], mag[use][order], err[use][order]
        starts = np.searchsorted(alerts, candidates)
        ends = np.searchsorted(alerts, candidates, side="right")
        features = np.array([_features(m[s:t], e[s:t]) for s, t in zip(starts, ends, strict=True)]).reshape(
            len(candidates), len(lia_features.FEATURE_NAMES)
        )
        probability = np.full(n, np.nan)
        if len(candidates):
            proba = model.predict_proba(features)  # row by row: a row's result ignores the other rows
            is_ml = np.argmax(proba, axis=1) == ml
            probability[candidates[is_ml]] = proba[is_ml, ml]
            candidates = candidates[is_ml]
        per_band.append(probability)
    both = ~np.isnan(per_band[0]) & ~np.isnan(per_band[1])
    scores[both] = (per_band[0][both] + per_band[1][both]) / 2.0
    return scores


# LIA's statistics of identical points are identical: an object's g points are the same in its g alert
# and in the r alert after it (whose history holds them), and again in later micro-batches. Bounded.
_FEATURES: OrderedDict[bytes, np.ndarray] = OrderedDict()
_FEATURES_SIZE = 10_000  # keys hold the points (a few KB): tens of MB at most per worker


def _features(mag: np.ndarray, err: np.ndarray) -> np.ndarray:
    """`lia_features.extract(mag, err)`, remembered per process for the exact same points."""
    key = len(mag).to_bytes(4, "little") + mag.tobytes() + err.tobytes()
    with _lock:
        hit = _FEATURES.get(key)
        if hit is not None:
            _FEATURES.move_to_end(key)
            return hit
    out = lia_features.extract(mag, err)
    with _lock:
        _FEATURES[key] = out
        if len(_FEATURES) > _FEATURES_SIZE:
            _FEATURES.popitem(last=False)
    return out


@register
class MulensScore(ScienceModule):
    """Microlensing score (LIA random forest, both bands ML)."""

    name = "mulens"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("ndethist", *FIELDS, *(f"prv_candidates.{f}" for f in FIELDS))
    outputs = (
        Output(
            "mulens",
            pa.float64(),
            "mean probability of microlensing over g and r when both are classified ML, else 0",
        ),
    )
    Config = MulensConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Cuts as masks, LIA statistics per eligible (alert, band), one forest call per band."""
        assert isinstance(self.config, MulensConfig)
        return {"mulens": pa.array(mulens_scores(batch, self.config), pa.float64())}
