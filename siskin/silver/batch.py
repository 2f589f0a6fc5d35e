"""The silver micro-batch (driver side): decode in Spark tasks, deduplicate per survey key, commit once.

1. Spark tasks read the batch's bronze files, decode them (`siskin.silver.transform`) and write the Parquet
   files of every table the catalog assigns to the silver stage, returning each file's alert keys.
2. The driver keeps the first occurrence of every key not already in silver (the rare files holding a
   duplicate are rewritten before anything is committed), and the cutouts of the alerts it admitted.
3. The skeleton (`siskin.pipeline.stage`) commits cutouts, rejects, each survey's table, ZTF silver last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pyspark.sql import DataFrame

from siskin.lake.catalog import TableSpec, tables
from siskin.lake.parquet_files import FileAdd, rewrite_file
from siskin.lake.task_writer import Target, WrittenFile, write_in_tasks
from siskin.pipeline.stage import BatchOutput, Stage
from siskin.silver.dedup import SeenCandids, cutout_masks, keep_masks
from siskin.silver.transform import CUTOUTS_TABLE, silver_transform

log = logging.getLogger(__name__)

BRONZE = "bronze.alerts"
MARKER = "silver.alerts"


def _stamps_as_is(spec: TableSpec) -> dict[str, str]:
    """Cutout stamps are gzip FITS already: store them uncompressed, the rest zstd."""
    names = spec.arrow_schema().names
    return {name: "none" for name in names if name.endswith("_stampData")} | {"*": "zstd"}


@dataclass
class SilverStage(Stage):
    """`foreachBatch` body of the bronze -> silver query (also used by `siskin replay`)."""

    seen: dict[str, SeenCandids] = field(init=False)

    writer: ClassVar[str] = "silver"
    marker: ClassVar[str] = MARKER

    def __post_init__(self) -> None:
        self.outputs = tables(writer="silver")
        self.keyed = [spec for spec in self.outputs if spec.survey is not None]
        self._fresh: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.seen = {
            spec.name: SeenCandids(
                spec.path(self.settings.lake_uri), spec.key[0], max_nights=self.settings.maintain.dedup_nights
            )
            for spec in self.keyed
        }

    def _targets(self) -> dict[str, Target]:
        lake = self.settings.lake_uri
        targets = {}
        for spec in self.outputs:
            if spec.survey is not None:
                targets[spec.name] = Target(spec.path(lake), spec.partition_by, key_column=spec.key[0])
            elif spec.name == CUTOUTS_TABLE:
                targets[spec.name] = Target(
                    spec.path(lake), spec.partition_by, key_column="candid", compression=_stamps_as_is(spec)
                )
            else:
                targets[spec.name] = Target(spec.path(lake), spec.partition_by)
        return targets

    def produce(self, df: DataFrame, batch_id: int) -> BatchOutput | None:
        written = write_in_tasks(
            df,
            silver_transform(self.settings, self.path(BRONZE)),
            self._targets(),
            target_rows=self.settings.delta.target_file_rows,
        )
        if not written:
            return None
        by_table = {spec.name: [w for w in written if w.target == spec.name] for spec in self.outputs}
        output = BatchOutput()
        admitted: list[np.ndarray] = []
        nights: list[np.ndarray] = []
        decoded = 0
        for spec in self.keyed:
            masks, keys, key_nights = keep_masks(by_table[spec.name], self.seen[spec.name])
            self._fresh[spec.name] = (keys, key_nights)
            decoded += sum(len(w.keys or []) for w in by_table[spec.name])
            output.files[spec.name] = self._apply(spec.name, by_table[spec.name], masks)
            admitted.append(keys)
            nights.append(key_nights)
        fresh = np.concatenate(admitted) if admitted else np.empty(0, np.int64)
        cutouts = by_table.get(CUTOUTS_TABLE, [])
        output.files[CUTOUTS_TABLE] = self._apply(CUTOUTS_TABLE, cutouts, cutout_masks(cutouts, fresh))
        for spec in self.outputs:
            if spec.name not in output.files:
                output.files[spec.name] = [w.add for w in by_table[spec.name]]
        output.rejects = sum(w.add.rows for w in by_table.get("silver.rejects", []))
        output.input_rows = decoded + output.rejects
        output.output_rows = len(fresh)
        output.duplicates = decoded - len(fresh)
        all_nights = np.concatenate(nights) if nights else np.empty(0, np.int32)
        output.nights = sorted({int(n) for n in all_nights})
        return output

    def commit_order(self, output: BatchOutput) -> list[str]:
        """Cutouts and rejects first, then the survey tables, ZTF silver (the marker) last."""
        plain = [s.name for s in self.outputs if s.survey is None]
        surveys = [s.name for s in self.keyed if s.name != MARKER]
        return [n for n in plain + surveys if output.files.get(n)] + [MARKER]

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        self._fresh = {}
        super().__call__(df, batch_id)
        for name, (keys, nights) in self._fresh.items():  # only once the batch is committed
            self.seen[name].add(keys, nights)

    def _apply(self, name: str, files: list[WrittenFile], masks: list[np.ndarray]) -> list[FileAdd]:
        """The files to commit: as written, or rewritten without the rows masked out."""
        uri = self.path(name)
        pairs = zip(files, masks, strict=True)
        kept = [w.add if keep.all() else rewrite_file(uri, w.add, keep) for w, keep in pairs]
        return [f for f in kept if f is not None]
