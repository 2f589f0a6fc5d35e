"""`rf_kn_vs_nonkn`: the kilonova score, per-band principal-component fits and the peer broker's forest.

`model = "kndetect"` (default; the peer's rule since fink-science 3, checked against 8.15.0's values):
  0  fewer than 2 magnitudes in the alert, `ndethist` above `max_ndethist`, the object older than
     `max_age_days` (`jd - jdstarthist`), or a SIMBAD label (`cdsxmatch`, when in the batch) that is not a
     possible extragalactic host (a null label, from a SIMBAD module that failed, is not cut);
  0  g or r cannot be fitted (`kilonova/features.py`);
  p  otherwise the `kndetect` `partial.pkl` forest's probability over the 10 fit features.
`model = "fink2021"` (fink-science 0.4.x, what the peer wrote in 2021): no cuts but `> 1` magnitudes, the
2-PC least-squares features and `KN_model_2PC.pkl` (RobustScaler + forest); 0 without a fit in g and r.

Both models are vendored in `artefacts/kilonova/` (arrays only, sha256-checked, exported by
`python -m siskin.science.kilonova.export`) and evaluated in numpy (`forest.py`).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science import sigmoid
from siskin.science.base import ModuleConfig, Output, ScienceError, ScienceModule
from siskin.science.forest import Forest, from_bytes
from siskin.science.kilonova import features
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS

ARTEFACTS = "artefacts/kilonova"
_lock = threading.Lock()
_cache: dict[str, KnModel] = {}


class KilonovaConfig(ModuleConfig):
    """Which peer version to reproduce, and its cuts (defaults: the peer's)."""

    model: Literal["kndetect", "fink2021"] = "kndetect"
    max_ndethist: int = 20  # kndetect only
    max_age_days: float = Field(default=20.0, gt=0)  # kndetect only: jd - jdstarthist


@dataclass(frozen=True)
class KnModel:
    """A vendored model: the forest, the PCs, an optional RobustScaler (center, scale)."""

    forest: Forest
    pcs: np.ndarray
    center: np.ndarray | None
    scale: np.ndarray | None


def card(name: str) -> dict[str, Any]:
    """The model card `artefacts/kilonova/<name>.json` (files, sha256, features, source)."""
    try:
        loaded = json.loads(files("siskin.science").joinpath(ARTEFACTS, f"{name}.json").read_text())
    except (OSError, ValueError) as exc:
        raise ScienceError(f"kilonova model card {name}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ScienceError(f"kilonova model card {name} is not a model card")
    return loaded


def _artefact(entry: Mapping[str, str]) -> bytes:
    data = files("siskin.science").joinpath(ARTEFACTS, entry["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ScienceError(f"kilonova artefact {entry['file']} does not match its sha256")
    return data


def model(name: str) -> KnModel:
    """The vendored model `name`, loaded and sha256-checked once per process."""
    with _lock:
        if name not in _cache:
            meta = card(name)
            pcs = np.load(io.BytesIO(_artefact(meta["pcs"])), allow_pickle=False)
            scaler = meta.get("scaler")
            _cache[name] = KnModel(
                forest=from_bytes(_artefact(meta["forest"])),
                pcs=np.asarray(pcs, dtype=np.float64),
                center=None if scaler is None else np.asarray(scaler["center"], dtype=np.float64),
                scale=None if scaler is None else np.asarray(scaler["scale"], dtype=np.float64),
            )
        return _cache[name]


def eligible(batch: pa.Table, pts: features.Points, config: KilonovaConfig) -> np.ndarray:
    """Alerts that pass the chosen peer version's cuts."""
    mask = pts.n_detections > 1
    if config.model == "fink2021":
        return np.asarray(mask)
    ndethist = batch.column("ndethist").to_numpy(zero_copy_only=False).astype(np.float64)
    jd = batch.column("jd").to_numpy(zero_copy_only=False).astype(np.float64)
    start = batch.column("jdstarthist").to_numpy(zero_copy_only=False).astype(np.float64)
    mask &= (ndethist <= config.max_ndethist) & (jd - start < config.max_age_days)
    if "cdsxmatch" in batch.column_names:
        from siskin.science.classes.labels import EG_HOST_LABELS

        labels = batch.column("cdsxmatch")
        host = pc.is_in(labels, pa.array(sorted(EG_HOST_LABELS)))
        mask &= np.asarray(pc.fill_null(pc.or_kleene(host, labels.is_null()), True))
    return np.asarray(mask)


def kilonova_scores(batch: pa.Table, config: KilonovaConfig) -> np.ndarray:
    """Probability of a kilonova per alert (0 where the cuts or the fits fail), float64."""
    pts = features.points(batch)
    scores = np.zeros(batch.num_rows, dtype=np.float64)
    mask = eligible(batch, pts, config)
    kn = model(config.model)
    if config.model == "kndetect":
        mask &= features.kndetect_fittable(pts)  # both bands fittable, else 0: fit nothing in vain
        rows = np.flatnonzero(mask)
        feats = features.kndetect_features(pts, rows, kn.pcs)
        fitted = (feats[:, 0] != 0) & (feats[:, 5] != 0)
    else:
        rows = np.flatnonzero(mask)
        feats = features.fink2021_features(pts, rows, kn.pcs)
        fitted = (feats[:, 2] != 0) & (feats[:, 7] != 0)
    if fitted.any():
        x = feats[fitted]
        if kn.center is not None and kn.scale is not None:
            x = (x - kn.center) / kn.scale
        scores[rows[fitted]] = kn.forest.predict_proba(x)[:, 1]
    return scores


@register
class KilonovaScore(ScienceModule):
    """Kilonova score (random forest over per-band principal-component fit features)."""

    name = "kilonova"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = (*sigmoid.LIGHT_CURVE_INPUTS, "ndethist", "jdstarthist")
    optional_inputs = ("cdsxmatch",)
    outputs = (
        Output(
            "rf_kn_vs_nonkn",
            pa.float64(),
            "probability of a kilonova (0 when the alert fails the cuts or g or r has no fit)",
        ),
    )
    Config = KilonovaConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Cuts as masks, PC fits per eligible alert and band, one forest call for all."""
        assert isinstance(self.config, KilonovaConfig)
        return {"rf_kn_vs_nonkn": pa.array(kilonova_scores(batch, self.config), type=pa.float64())}
