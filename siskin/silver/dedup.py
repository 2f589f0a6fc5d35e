"""Silver deduplication on the alert key (ZTF candid, Rubin diaSourceId), done by the driver.

Tasks report the keys each written file holds; the driver keeps the first occurrence of every key
that silver does not hold yet, and rewrites the rare file holding a duplicate before committing.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from siskin.lake.task_writer import WrittenFile


class SeenCandids:
    """Candids already in silver, per night, loaded lazily and kept as sorted int64 arrays."""

    def __init__(self, silver_uri: str, key: str = "candid") -> None:
        self.silver_uri = silver_uri
        self.key = key
        self.by_night: dict[int, np.ndarray] = {}

    def _load(self, night: int) -> np.ndarray:
        from siskin.lake.transactions import open_table

        table = open_table(self.silver_uri)
        if table is None:
            return np.empty(0, np.int64)
        data = table.to_pyarrow_dataset().to_table(columns=[self.key], filter=pc.field("night") == night)
        return np.sort(data.column(self.key).to_numpy(zero_copy_only=False).astype(np.int64))

    def seen(self, candids: np.ndarray, nights: np.ndarray) -> np.ndarray:
        """Boolean mask: which (candid, night) pairs silver already holds."""
        mask = np.zeros(len(candids), bool)
        for night in np.unique(nights):
            if int(night) not in self.by_night:
                self.by_night[int(night)] = self._load(int(night))
            sel = nights == night
            mask[sel] = np.isin(candids[sel], self.by_night[int(night)], assume_unique=False)
        return mask

    def add(self, candids: np.ndarray, nights: np.ndarray) -> None:
        for night in np.unique(nights):
            known = self.by_night.get(int(night), np.empty(0, np.int64))
            self.by_night[int(night)] = np.union1d(known, candids[nights == night])

    def forget(self, night: int) -> None:
        self.by_night.pop(night, None)


def keep_masks(
    files: list[WrittenFile], already: SeenCandids
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per file, which rows to keep: the first occurrence of each candid that silver does not hold yet.

    Returns the masks, and the fresh candids with their nights.
    """
    taken = np.empty(0, np.int64)
    masks, fresh, nights = [], [], []
    for f in files:
        keys = np.asarray(f.keys or [], np.int64)
        night = int(f.add.partition_values["night"] or 0)
        seen = already.seen(keys, np.full(len(keys), night, np.int32)) | np.isin(keys, taken)
        first = np.zeros(len(keys), bool)
        first[np.unique(keys, return_index=True)[1]] = True
        keep = first & ~seen
        masks.append(keep)
        taken = np.union1d(taken, keys[keep])
        fresh.append(keys[keep])
        nights.append(np.full(int(keep.sum()), night, np.int32))
    if not fresh:
        return masks, np.empty(0, np.int64), np.empty(0, np.int32)
    return masks, np.concatenate(fresh), np.concatenate(nights)


def cutout_masks(files: list[WrittenFile], fresh: np.ndarray) -> list[np.ndarray]:
    """Per cutouts file: keep the first row of each key that this batch newly admitted to silver."""
    taken = np.empty(0, np.int64)
    masks = []
    for f in files:
        keys = np.asarray(f.keys or [], np.int64)
        first = np.zeros(len(keys), bool)
        first[np.unique(keys, return_index=True)[1]] = True
        keep = first & np.isin(keys, fresh) & ~np.isin(keys, taken)
        taken = np.union1d(taken, keys[keep])
        masks.append(keep)
    return masks
