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
from siskin.lake.tables import (
    BRONZE_ALERTS,
    SILVER_ALERTS,
    SILVER_CUTOUTS,
    SILVER_REJECTS,
    SILVER_RUBIN,
    table_path,
)
from siskin.lake.task_writer import Target, WrittenFile, write_in_tasks
from siskin.ops.batches import BatchReport, record_batch
from siskin.silver.dedup import SeenCandids, cutout_masks, keep_masks
from siskin.silver.transform import (
    cutouts_schema,
    rejects_schema,
    rubin_schema,
    silver_schema,
    silver_transform,
)

log = logging.getLogger(__name__)

STAMPS_AS_IS = {name: "none" for name in cutouts_schema().names if name.endswith("_stampData")} | {
    "*": "zstd"
}


# Alert tables deduplicated per key; committed after cutouts and rejects, ZTF silver last.
ALERT_TABLES = {"rubin": "diaSourceId", "silver": "candid"}


@dataclass
class SilverStage:
    """`foreachBatch` body of the bronze -> silver query (also used by `siskin replay`)."""

    settings: Settings
    app_id: str
    query: str = "silver"
    replay: bool = False
    seen: dict[str, SeenCandids] = field(init=False)

    def __post_init__(self) -> None:
        lake = self.settings.lake_uri
        self.bronze_uri = table_path(lake, BRONZE_ALERTS.name)
        self.uris = {
            "silver": table_path(lake, SILVER_ALERTS.name),
            "rubin": table_path(lake, SILVER_RUBIN.name),
            "cutouts": table_path(lake, SILVER_CUTOUTS.name),
            "rejects": table_path(lake, SILVER_REJECTS.name),
        }
        self.schemas = {
            "silver": silver_schema(),
            "rubin": rubin_schema(),
            "cutouts": cutouts_schema(),
            "rejects": rejects_schema(),
        }
        self.seen = {name: SeenCandids(self.uris[name], key) for name, key in ALERT_TABLES.items()}

    def _targets(self) -> dict[str, Target]:
        return {
            "silver": Target(self.uris["silver"], ("night",), key_column="candid"),
            "rubin": Target(self.uris["rubin"], ("night",), key_column="diaSourceId"),
            "cutouts": Target(
                self.uris["cutouts"], ("night",), key_column="candid", compression=STAMPS_AS_IS
            ),
            "rejects": Target(self.uris["rejects"], ("night",)),
        }

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        from siskin.lake.transactions import already_committed, commit_files

        if already_committed(self.uris["silver"], self.app_id, batch_id):  # replay after the silver commit
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
        final: dict[str, list] = {"rejects": [w.add for w in by_target["rejects"]]}
        fresh: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        decoded = 0
        for name in ALERT_TABLES:
            masks, keys, nights = keep_masks(by_target[name], self.seen[name])
            fresh[name] = (keys, nights)
            decoded += sum(len(w.keys or []) for w in by_target[name])
            final[name] = self._apply(name, by_target[name], masks)
        admitted = np.concatenate([keys for keys, _ in fresh.values()])
        final["cutouts"] = self._apply(
            "cutouts", by_target["cutouts"], cutout_masks(by_target["cutouts"], admitted)
        )
        meta = {"siskin.replay": "true"} if self.replay else {}
        for name in ("cutouts", "rejects", "rubin", "silver"):  # ZTF silver last: it marks the batch done
            if final[name] or name == "silver":
                commit_files(
                    self.uris[name],
                    final[name],
                    self.schemas[name],
                    ("night",),
                    app_id=self.app_id,
                    version=batch_id,
                    metadata=meta,
                )
        for name, (keys, nights) in fresh.items():
            self.seen[name].add(keys, nights)
        n_rejects = sum(w.add.rows for w in by_target["rejects"])
        all_nights = np.concatenate([n for _, n in fresh.values()])
        record_batch(
            self.settings,
            BatchReport(
                query=self.query,
                app_id=self.app_id,
                batch_id=batch_id,
                started_at=started,
                input_rows=decoded + n_rejects,
                output_rows=len(admitted),
                rejects=n_rejects,
                duplicates=decoded - len(admitted),
                nights=sorted({int(n) for n in all_nights}),
                replay=self.replay,
            ),
        )

    def _apply(self, name: str, files: list[WrittenFile], masks: list[np.ndarray]) -> list:
        """The files to commit: as written, or rewritten without the rows masked out."""
        kept = [
            w.add if keep.all() else rewrite_file(self.uris[name], w.add, keep)
            for w, keep in zip(files, masks, strict=True)
        ]
        return [f for f in kept if f is not None]
