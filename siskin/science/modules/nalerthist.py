"""`nalerthist`: detections an alert carries, its own plus those of its history (upper limits not counted).

The peer broker's definition: the number of valid (non-null, non-NaN) `magpsf` values over the
previous candidates and the current candidate. Rows of `prv_candidates` with a null `magpsf` are
upper limits; an alert without history counts 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.science.base import Output, ScienceModule
from siskin.science.paths import input_column
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS


def valid_counts(lists: pa.Array) -> np.ndarray:
    """Per row of a list<float> column, how many items are neither null nor NaN (a null list counts 0)."""
    n = len(lists)
    values = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy()
    numbers = values.to_numpy(zero_copy_only=False).astype(np.float64)
    return np.bincount(parents[~np.isnan(numbers)], minlength=n)[:n].astype(np.int64)


def detections(batch: pa.Table) -> np.ndarray:
    """Valid `magpsf` values in `prv_candidates` plus the current candidate's, per alert."""
    history = input_column(batch, "prv_candidates.magpsf")
    assert history is not None  # the runner checked the inputs
    current = batch.column("magpsf").to_numpy().astype(np.float64)
    return valid_counts(history) + (~np.isnan(current)).astype(np.int64)


@register
class NAlertHist(ScienceModule):
    """Number of detections in the alert packet (current + history)."""

    name = "nalerthist"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("magpsf", "prv_candidates.magpsf")
    outputs = (
        Output(
            "nalerthist", pa.int32(), "detections in the alert: current + history, upper limits not counted"
        ),
    )

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Count valid magnitudes, vectorised over the list offsets."""
        return {"nalerthist": pa.array(detections(batch).astype(np.int32), pa.int32())}
