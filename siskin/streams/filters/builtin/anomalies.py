"""`anomalies`: the most anomalous alerts of each night, the top N as the night goes (stateful).

Semantics: an alert passes when, among the alerts of its night this filter passed before plus the
alerts of the current batch, its `anomaly_score` ranks within the top N (ties broken by `candid`).
A stream cannot know the rest of the night, so an alert that passed early may later be outranked:
at most N alerts of a night pass per batch, and the night's final top N is always among those that
passed. After a restart `seed(passed)` restores the per-night state from what the filter's output
already holds (columns `night`, `anomaly_score`, `candid`), so a replayed batch decides as it did
the first time; an alert of the batch already in the state competes once, as itself. `seed` adds
to the state (night by night as nights appear, or all at once): it never forgets other nights.

The reference broker's anomaly score is lower for more anomalous alerts (`most_anomalous="lowest"`).
Alerts without a score never pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.streams.filters.base import Filter, FilterConfig
from siskin.streams.filters.registry import register


class AnomaliesConfig(FilterConfig):
    """How many per night, and which end of the score is anomalous."""

    top_n: int = Field(default=10, ge=1)
    most_anomalous: Literal["lowest", "highest"] = "lowest"


@register
class Anomalies(Filter):
    """The running top N per night by anomaly score."""

    name = "anomalies"
    description = "The most anomalous alerts of each night: running top 10 by anomaly score (lowest first)"
    version = "1.0.0"
    survey = "ztf"
    inputs = ("night", "anomaly_score", "candid")
    stateful = True
    Config = AnomaliesConfig

    def __init__(self, config: FilterConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._nights = np.zeros(0, np.int64)
        self._keys = np.zeros(0, np.float64)
        self._candids = np.zeros(0, np.int64)

    def _columns(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Night, ranking key (smaller = more anomalous), candid, and which rows can rank at all."""
        c = self.config
        assert isinstance(c, AnomaliesConfig)
        nights = pc.fill_null(pc.cast(self.column(table, "night"), pa.int64()), -1).to_numpy()
        candids = pc.fill_null(pc.cast(self.column(table, "candid"), pa.int64()), -1).to_numpy()
        scores = pc.cast(self.column(table, "anomaly_score"), pa.float64()).to_numpy(zero_copy_only=False)
        keys = np.asarray(scores, np.float64) * (1.0 if c.most_anomalous == "lowest" else -1.0)
        valid = ~np.isnan(keys) & (nights >= 0) & (candids >= 0)
        valid &= self.column(table, "night").is_valid().to_numpy(zero_copy_only=False)
        valid &= self.column(table, "candid").is_valid().to_numpy(zero_copy_only=False)
        return nights, keys, candids, valid

    def _rank(
        self, nights: np.ndarray, keys: np.ndarray, candids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per night rank of each entry (state first, then the new ones) and the order used."""
        order = np.lexsort((candids, keys, nights))
        sorted_nights = nights[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_nights)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        ranks = np.empty(len(order), np.int64)
        ranks[order] = np.arange(len(order)) - group_start
        return ranks, order

    def keep(self, batch: pa.Table) -> pa.Array:
        """Rank the batch's alerts against the state, pass the top N of each night, keep them as state."""
        c = self.config
        assert isinstance(c, AnomaliesConfig)
        nights, keys, candids, valid = self._columns(batch)
        rows = np.flatnonzero(valid)
        stay = ~np.isin(self._candids, candids[rows])  # an alert replayed competes once, as itself
        all_nights = np.r_[self._nights[stay], nights[rows]]
        all_keys = np.r_[self._keys[stay], keys[rows]]
        all_candids = np.r_[self._candids[stay], candids[rows]]
        ranks, _ = self._rank(all_nights, all_keys, all_candids)
        kept = ranks < c.top_n
        held = int(stay.sum())
        passed = np.zeros(batch.num_rows, bool)
        passed[rows[kept[held:]]] = True
        self._nights, self._keys, self._candids = all_nights[kept], all_keys[kept], all_candids[kept]
        return pa.array(passed)

    def seed(self, passed: pa.Table) -> None:
        """Add alerts already passed to the state (each night keeps its top N): call it once with
        everything, or night by night as nights appear; nights it is not given keep their state."""
        c = self.config
        assert isinstance(c, AnomaliesConfig)
        nights, keys, candids, valid = self._columns(passed)
        fresh = valid & ~np.isin(candids, self._candids)
        nights = np.r_[self._nights, nights[fresh]]
        keys = np.r_[self._keys, keys[fresh]]
        candids = np.r_[self._candids, candids[fresh]]
        _, first = np.unique(candids, return_index=True)  # one entry per alert
        nights, keys, candids = nights[first], keys[first], candids[first]
        ranks, _ = self._rank(nights, keys, candids)
        kept = ranks < c.top_n
        self._nights, self._keys, self._candids = nights[kept], keys[kept], candids[kept]
