"""The silver micro-batch: decode in Spark tasks, deduplicate on candid, commit exactly once.

1. Spark tasks read the batch's bronze files, decode them and write the Parquet files of
   `silver.alerts`, `silver.cutouts` and `silver.rejects`, returning each file's candids.
2. The driver keeps the first occurrence of every candid not already in silver (the rare files
   holding a duplicate are rewritten before anything is committed).
3. It commits cutouts, rejects, then silver, each with the app transaction (checkpoint app id,
   batch id): a batch whose silver commit exists is complete, and a replayed one is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from pyspark.sql import DataFrame

from siskin.config import Settings
from siskin.lake.parquet_files import rewrite_file
from siskin.lake.tables import BRONZE_ALERTS, SILVER_ALERTS, SILVER_CUTOUTS, SILVER_REJECTS, table_path
from siskin.lake.task_writer import Target, WrittenFile, write_in_tasks
from siskin.pipeline.ops import BatchReport, record_batch
from siskin.pipeline.silver import (
    SeenCandids,
    cutouts_schema,
    rejects_schema,
    silver_schema,
    silver_transform,
)

log = logging.getLogger(__name__)

STAMPS_AS_IS = {name: "none" for name in cutouts_schema().names if name.endswith("_stampData")} | {
    "*": "zstd"
}


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
        night = int(f.add.partition_values["night"])
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


@dataclass
class SilverStage:
    """`foreachBatch` body of the bronze -> silver query (also used by `siskin replay`)."""

    settings: Settings
    app_id: str
    query: str = "silver"
    replay: bool = False
    seen: SeenCandids = field(init=False)

    def __post_init__(self) -> None:
        lake = self.settings.lake_uri
        self.bronze_uri = table_path(lake, BRONZE_ALERTS.name)
        self.uris = {
            "silver": table_path(lake, SILVER_ALERTS.name),
            "cutouts": table_path(lake, SILVER_CUTOUTS.name),
            "rejects": table_path(lake, SILVER_REJECTS.name),
        }
        self.seen = SeenCandids(self.uris["silver"])

    def _targets(self) -> dict[str, Target]:
        return {
            "silver": Target(self.uris["silver"], ("night",), key_column="candid"),
            "cutouts": Target(
                self.uris["cutouts"], ("night",), key_column="candid", compression=STAMPS_AS_IS
            ),
            "rejects": Target(self.uris["rejects"], ("night",)),
        }

    def _done(self, batch_id: int) -> bool:
        from siskin.lake.transactions import open_table

        table = open_table(self.uris["silver"])
        version = table.transaction_version(self.app_id) if table is not None else None
        return version is not None and version >= batch_id

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        from siskin.lake.transactions import commit_files

        if self._done(batch_id):  # replayed after a crash that followed the silver commit
            return
        started = datetime.now(UTC)
        written = write_in_tasks(
            bronze,
            silver_transform(self.settings, self.bronze_uri),
            self._targets(),
            target_rows=self.settings.delta.target_file_rows,
        )
        if not written:
            return
        by_target = {name: [w for w in written if w.target == name] for name in self.uris}
        masks, fresh, fresh_nights = keep_masks(by_target["silver"], self.seen)
        decoded = sum(len(w.keys or []) for w in by_target["silver"])
        final: dict[str, list] = {"rejects": [w.add for w in by_target["rejects"]]}
        for name in ("silver", "cutouts"):
            files = []
            for w, keep in zip(by_target[name], masks, strict=True):
                files.append(w.add if keep.all() else rewrite_file(self.uris[name], w.add, keep))
            final[name] = [f for f in files if f is not None]
        meta = {"siskin.replay": "true"} if self.replay else {}
        schemas = {"silver": silver_schema(), "cutouts": cutouts_schema(), "rejects": rejects_schema()}
        for name in ("cutouts", "rejects", "silver"):  # silver last
            if final[name] or name == "silver":
                commit_files(
                    self.uris[name],
                    final[name],
                    schemas[name],
                    ("night",),
                    app_id=self.app_id,
                    version=batch_id,
                    metadata=meta,
                )
        self.seen.add(fresh, fresh_nights)
        n_rejects = sum(w.add.rows for w in by_target["rejects"])
        record_batch(
            self.settings,
            BatchReport(
                query=self.query,
                app_id=self.app_id,
                batch_id=batch_id,
                started_at=started,
                input_rows=decoded + n_rejects,
                output_rows=len(fresh),
                rejects=n_rejects,
                duplicates=decoded - len(fresh),
                nights=sorted({int(n) for n in fresh_nights}),
                replay=self.replay,
            ),
        )
