"""Silver deduplication on the alert key (ZTF candid, Rubin diaSourceId), done by the driver.

Tasks report the keys each written file holds; the driver keeps the first occurrence of every key
that silver does not hold yet, and rewrites the rare file holding a duplicate before committing.

A batch's cost must not grow with the night: the keys silver holds are kept per night as a few sorted
runs of geometrically growing size (a log-structured merge), so checking a batch is a binary search
per run and adding it merges runs of similar size only (each key is merged O(log n) times in all).
Only the `max_nights` most recently used nights stay in memory; an evicted night is read back from
silver (only its key column, only its partition) if a late alert needs it.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyarrow.parquet as pq

from siskin.lake.task_writer import WrittenFile


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Keys sorted, duplicates dropped (sort-based: numpy's hash-based `unique` is far slower on 10M keys)."""
    ordered = np.sort(np.asarray(keys, np.int64), kind="stable")  # timsort: linear on concatenated runs
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


class SortedRuns:
    """A set of int64 keys as sorted runs, each at least twice as large as the next."""

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self.runs: list[np.ndarray] = []
        if keys is not None and len(keys):
            self.runs.append(sorted_unique(keys))

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: which keys are in the set (a binary search per run)."""
        keys = np.asarray(keys, np.int64)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]  # sorted probes walk each run in order: far fewer cache misses
        found_sorted = np.zeros(len(keys), bool)
        for run in self.runs:
            # alert keys grow with time (ZTF candid, Rubin diaSourceId): most probes lie past a run's end
            first = int(np.searchsorted(ordered, run[0], side="left"))
            last = int(np.searchsorted(ordered, run[-1], side="right"))
            inside = ordered[first:last]  # within [run[0], run[-1]]: every position found is inside the run
            found_sorted[first:last] |= run[np.searchsorted(run, inside)] == inside
        found = np.empty(len(keys), bool)
        found[order] = found_sorted
        return found

    def add(self, keys: np.ndarray) -> None:
        """Add keys; merges the new run into the smaller runs it outgrows."""
        run = sorted_unique(keys)
        if not len(run):
            return
        while self.runs and len(self.runs[-1]) <= 2 * len(run):
            run = sorted_unique(np.concatenate([self.runs.pop(), run]))
        self.runs.append(run)


class SeenCandids:
    """Keys already in a silver table, per night: read lazily from silver, LRU-evicted past `max_nights`."""

    def __init__(self, silver_uri: str, key: str = "candid", max_nights: int = 3) -> None:
        self.silver_uri = silver_uri
        self.key = key
        self.max_nights = max_nights
        self.by_night: OrderedDict[int, SortedRuns] = OrderedDict()
        self.loads = 0  # nights read from silver (first use or after eviction)

    def _load(self, night: int) -> SortedRuns:
        """The night's keys, reading only that partition's files and only the key column."""
        from siskin.lake.transactions import current_table

        self.loads += 1
        table = current_table(self.silver_uri)
        if table is None:
            return SortedRuns()
        parts = [
            pq.read_table(uri, columns=[self.key]).column(self.key).to_numpy(zero_copy_only=False)
            for uri in table.file_uris(partition_filters=[("night", "=", str(night))])
        ]
        return SortedRuns(np.concatenate(parts).astype(np.int64) if parts else None)

    def _night(self, night: int) -> SortedRuns:
        state = self.by_night.get(night)
        if state is None:
            state = self._load(night)
            self.by_night[night] = state
        self.by_night.move_to_end(night)
        while len(self.by_night) > self.max_nights:
            self.by_night.popitem(last=False)
        return state

    def seen(self, candids: np.ndarray, nights: np.ndarray) -> np.ndarray:
        """Boolean mask: which (candid, night) pairs silver already holds."""
        candids = np.asarray(candids, np.int64)
        nights = np.asarray(nights)
        mask = np.zeros(len(candids), bool)
        for night in np.unique(nights):
            sel = nights == night
            mask[sel] = self._night(int(night)).contains(candids[sel])
        return mask

    def add(self, candids: np.ndarray, nights: np.ndarray) -> None:
        """Record keys a committed batch added (a night not in memory is read from silver when needed)."""
        candids = np.asarray(candids, np.int64)
        nights = np.asarray(nights)
        for night in np.unique(nights):
            state = self.by_night.get(int(night))
            if state is not None:
                state.add(candids[nights == night])

    def forget(self, night: int) -> None:
        self.by_night.pop(night, None)


def _file_keys(files: list[WrittenFile]) -> tuple[np.ndarray, np.ndarray]:
    """All files' keys concatenated, and the file index of each."""
    keys = [np.asarray(f.keys or [], np.int64) for f in files]
    owner = np.repeat(np.arange(len(files)), [len(k) for k in keys])
    return (np.concatenate(keys) if keys else np.empty(0, np.int64)), owner


def _first_of(keys: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each key among the candidate positions (in file order)."""
    keep = np.zeros(len(keys), bool)
    index = np.flatnonzero(candidates)
    if len(index):
        keep[index[np.unique(keys[index], return_index=True)[1]]] = True
    return keep


def _split(mask: np.ndarray, owner: np.ndarray, n_files: int) -> list[np.ndarray]:
    bounds = np.searchsorted(owner, np.arange(n_files + 1))
    return [mask[bounds[i] : bounds[i + 1]] for i in range(n_files)]


def keep_masks(
    files: list[WrittenFile], already: SeenCandids
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per file, which rows to keep: the first occurrence of each candid that silver does not hold yet.

    Returns the masks, and the fresh candids with their nights. One lookup for the whole batch.
    """
    keys, owner = _file_keys(files)
    file_nights = np.array([int(f.add.partition_values.get("night") or 0) for f in files], np.int32)
    nights = file_nights[owner] if len(files) else np.empty(0, np.int32)
    keep = _first_of(keys, ~already.seen(keys, nights))
    return _split(keep, owner, len(files)), keys[keep], nights[keep]


def cutout_masks(files: list[WrittenFile], fresh: np.ndarray) -> list[np.ndarray]:
    """Per cutouts file: keep the first row of each key that this batch newly admitted to silver."""
    keys, owner = _file_keys(files)
    keep = _first_of(keys, np.isin(keys, np.asarray(fresh, np.int64)))
    return _split(keep, owner, len(files))
