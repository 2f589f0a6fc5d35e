"""`rf_snia_vs_nonia`: the early SN Ia score, sigmoid-fit features and the peer broker's random forest.

The peer's rule (fink-science `rfscore_sigmoid_full`, defaults), applied in this order:
  0  fewer than `min_points` magnitudes in the alert (history + current), or `ndethist` above
     `max_ndethist` (an old object is no early supernova), or, when a SIMBAD label (`cdsxmatch`) is
     in the batch, a label that is not a possible extragalactic host (a null label, from a SIMBAD
     module that failed on the batch, is not cut; the peer's "Fail" is a host label, as there);
  0  no sigmoid fit in g or in r (a band with too few nights, or not rising all along: `sigmoid.py`);
     so an alert is fitted only when both bands can be (a one-band fit never reaches the score);
  p  otherwise the forest's probability of SN Ia over the 12 features.
Without a `cdsxmatch` column the SIMBAD cut is not applied here; the class rules apply it.

The forest is the peer's published model (fink-science 7.4.0 `default-model_sigmoid.obj`, 1,000
trees, Apache-2.0), whose pickle scikit-learn 1.9 refuses: its arrays were exported once by
`siskin train snia --from-peer` to `artefacts/snia/` and are evaluated with numpy (`forest.py`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science import sigmoid
from siskin.science.base import ModuleConfig, Output, ScienceError, ScienceModule
from siskin.science.forest import Forest, from_bytes
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS

ARTEFACTS = "artefacts/snia"
_lock = threading.Lock()
_cache: dict[str, Forest] = {}


class SniaConfig(ModuleConfig):
    """Cuts and fit settings (defaults: the peer broker's), and which artefact to load."""

    min_points: int = Field(default=4, ge=1)
    max_ndethist: int = 20
    min_data_points: int = Field(default=4, ge=1)
    min_rising_points: int = Field(default=2, ge=1)
    ewma_window: float = Field(default=3.0, gt=0)
    # the artefact's card (naming its forest file and sha256): a name in the package's artefacts, or a
    # path to the model.json of a forest trained by `siskin train snia --out DIR`
    model: str = "model.json"


def _folder(name: str) -> Traversable:
    """Where card `name` lives: the package's artefacts, or the folder of a card given by path."""
    if "/" in name or "\\" in name:
        return Path(name).expanduser().parent
    return files("siskin.science").joinpath(ARTEFACTS)


def _card_name(name: str) -> str:
    return Path(name).name


def card(name: str = "model.json") -> dict[str, Any]:
    """The artefact's machine-readable card (file, sha256, features, source): a name in the package's
    artefacts, or the path of a card written by `siskin train snia --out DIR` (`DIR/model.json`)."""
    try:
        loaded = json.loads(_folder(name).joinpath(_card_name(name)).read_text())
    except (OSError, ValueError) as exc:
        raise ScienceError(f"snia model card {name}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ScienceError(f"snia model card {name} is not a model card")
    return loaded


def forest(name: str = "model.json") -> Forest:
    """The forest named by card `name`, loaded and checked (features, sha256) once per process."""
    with _lock:
        if name not in _cache:
            meta = card(name)
            if list(meta["features"]) != list(sigmoid.FEATURE_NAMES):
                raise ScienceError(f"snia model {name}: features {meta['features']} are not the sigmoid ones")
            data = _folder(name).joinpath(meta["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ScienceError(f"snia model {name}: {meta['file']} does not match its sha256")
            _cache[name] = from_bytes(data)
        return _cache[name]


def eligible(batch: pa.Table, curves: sigmoid.LightCurves, config: SniaConfig) -> np.ndarray:
    """Alerts that pass the peer's selection cuts (points, ndethist, SIMBAD label when present)."""
    ndethist = batch.column("ndethist").to_numpy().astype(np.float64)
    mask = (sigmoid.valid_points(curves) >= config.min_points) & (ndethist <= config.max_ndethist)
    if "cdsxmatch" in batch.column_names:
        from siskin.science.classes.labels import EG_HOST_LABELS

        labels = batch.column("cdsxmatch")
        host = pc.is_in(labels, pa.array(sorted(EG_HOST_LABELS)))
        mask &= np.asarray(pc.fill_null(pc.or_kleene(host, labels.is_null()), True))
    return np.asarray(mask)


def snia_scores(batch: pa.Table, config: SniaConfig) -> np.ndarray:
    """Probability of SN Ia per alert (0 where the cuts or the fits fail), float64."""
    curves = sigmoid.light_curves(batch)
    rows = np.flatnonzero(eligible(batch, curves, config))
    scores = np.zeros(batch.num_rows, dtype=np.float64)
    if not len(rows):
        return scores
    features = sigmoid.sigmoid_features(
        curves,
        rows,
        min_data_points=config.min_data_points,
        min_rising_points=config.min_rising_points,
        ewma_window=config.ewma_window,
        both_bands=True,  # the score is 0 without a fit in g and in r: fit only alerts that can have both
    )
    fitted = (features[:, 0] != 0) & (features[:, 6] != 0)  # a fit in both g and r
    if fitted.any():
        scores[rows[fitted]] = forest(config.model).predict_proba(features[fitted])[:, 1]
    return scores


@register
class SniaScore(ScienceModule):
    """Early SN Ia score (random forest over per-band sigmoid-fit features)."""

    name = "snia"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = (*sigmoid.LIGHT_CURVE_INPUTS, "ndethist")
    optional_inputs = ("cdsxmatch",)
    outputs = (
        Output(
            "rf_snia_vs_nonia",
            pa.float64(),
            "probability of an early SN Ia (0 when the alert fails the cuts or a band has no fit)",
        ),
    )
    Config = SniaConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Cuts as masks, sigmoid fits per eligible alert and band, one forest call for all."""
        assert isinstance(self.config, SniaConfig)
        return {"rf_snia_vs_nonia": pa.array(snia_scores(batch, self.config), pa.float64())}
