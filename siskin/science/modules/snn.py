"""`snn_snia_vs_nonia`, `snn_sn_vs_all`: SuperNNova scores with the peer broker's trained ZTF models.

The peer's rule (fink-science 7.4.0 `snn_ia`), applied in this order:
  0  fewer than `min_points` magnitudes in the alert (history + current), or the current detection more
     than `max_days` after `jdstarthist` (or no `jdstarthist`), or a known minor planet (`roid == 3`,
     when a `roid` column is in the batch), or a SIMBAD label (`cdsxmatch`, when present) that is not
     a possible extragalactic host (a null label, from a SIMBAD module that failed on the batch, is
     not cut; "Fail" is a host label, as at the peer);
  p  otherwise the model's probability of its first class (SN Ia, resp. SN) over the light curve.
Light curves become model inputs in `siskin.science.snn.features`; the 2x32 bidirectional LSTMs run in
numpy (`siskin.science.snn.rnn`) with the peer's weights, exported once from its wheel to
`artefacts/snn/` (`siskin train snn --from-peer`), so torch is not needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science import sigmoid
from siskin.science.base import ModuleConfig, Output, ScienceModule
from siskin.science.registry import register
from siskin.science.snn import features, models, rnn
from siskin.science.tables import ZTF_ALERTS


class SnnConfig(ModuleConfig):
    """Selection cuts (defaults: the peer broker's) and the largest batch one forward pass takes."""

    min_points: int = Field(default=2, ge=1)
    max_days: float = 90.0
    chunk: int = Field(default=4096, ge=1)


def eligible(batch: pa.Table, curves: sigmoid.LightCurves, config: SnnConfig) -> np.ndarray:
    """Alerts that pass the peer's cuts (points, age, not a known asteroid, SIMBAD label when present)."""
    jd = batch.column("jd").to_numpy(zero_copy_only=False).astype(np.float64)
    start = pc.fill_null(batch.column("jdstarthist"), np.nan).to_numpy(zero_copy_only=False).astype(float)
    mask = sigmoid.valid_points(curves) >= config.min_points
    with np.errstate(invalid="ignore"):
        mask &= jd - start <= config.max_days  # a null jdstarthist is cut, as at the peer (NaN <= 90)
    if "roid" in batch.column_names:
        mask &= np.asarray(pc.fill_null(pc.not_equal(batch.column("roid"), 3), True))
    if "cdsxmatch" in batch.column_names:
        from siskin.science.classes.labels import EG_HOST_LABELS

        labels = batch.column("cdsxmatch")
        host = pc.is_in(labels, pa.array(sorted(EG_HOST_LABELS)))
        mask &= np.asarray(pc.fill_null(pc.or_kleene(host, labels.is_null()), True))
    return np.asarray(mask)


def score_curves(curves: sigmoid.LightCurves, rows: np.ndarray, name: str, chunk: int = 4096) -> np.ndarray:
    """Model `name`'s first-class probability for the alerts `rows` of `curves`, float64."""
    weights, norm = models.model(name)
    out = np.zeros(len(rows), dtype=np.float64)
    position = np.full(curves.n_alerts, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    for lo in range(0, len(rows), chunk):
        part = position[curves.alert]
        keep = (part >= lo) & (part < lo + chunk)
        seq = features.sequences(
            part[keep] - lo,
            curves.jd[keep],
            curves.fid[keep],
            curves.mag[keep],
            curves.err[keep],
            min(chunk, len(rows) - lo),
            norm,
        )
        out[lo : lo + chunk] = rnn.predict(weights, seq.x, seq.lengths)[:, 0]
    return out


def snn_scores(batch: pa.Table, config: SnnConfig) -> dict[str, np.ndarray]:
    """Both scores per alert (0 where the cuts fail), as the peer computes them."""
    curves = sigmoid.light_curves(batch)
    rows = np.flatnonzero(eligible(batch, curves, config))
    result = {}
    for name in models.MODEL_NAMES:
        scores = np.zeros(batch.num_rows, dtype=np.float64)
        if len(rows):
            scores[rows] = score_curves(curves, rows, name, config.chunk)
        result[name] = scores
    return result


@register
class SnnScore(ScienceModule):
    """SuperNNova SN Ia vs non-Ia and SN vs all scores (the peer's trained bidirectional LSTMs)."""

    name = "snn"
    version = "1.0.1"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = (*sigmoid.LIGHT_CURVE_INPUTS, "jdstarthist")
    optional_inputs = ("roid", "cdsxmatch")
    outputs = (
        Output("snn_snia_vs_nonia", pa.float64(), "SuperNNova probability of SN Ia vs other SNe (0: cut)"),
        Output("snn_sn_vs_all", pa.float64(), "SuperNNova probability of a supernova vs all (0: cut)"),
    )
    Config = SnnConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Cuts as masks, then one padded forward pass per model over all eligible alerts."""
        assert isinstance(self.config, SnnConfig)
        scores = snn_scores(batch, self.config)
        return {name: pa.array(values, pa.float64()) for name, values in scores.items()}
