"""The silver micro-batch: decode once, then append cutouts, rejects and silver, exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from siskin.config import Settings
from siskin.lake.engine import DeltaEngine
from siskin.lake.tables import SILVER_ALERTS, SILVER_CUTOUTS, SILVER_REJECTS, table_path
from siskin.pipeline.ops import BatchReport, record_batch
from siskin.pipeline.silver import (
    KIND,
    SeenCandids,
    cutouts_schema,
    decode_mapper,
    decoded_schema,
    rejects_schema,
    silver_schema,
)

log = logging.getLogger(__name__)


@dataclass
class SilverStage:
    """`foreachBatch` body of the bronze -> silver query (also used by `siskin replay`)."""

    settings: Settings
    engine: DeltaEngine
    app_id: str
    query: str = "silver"
    replay: bool = False
    seen: SeenCandids = field(init=False)

    def __post_init__(self) -> None:
        lake = self.settings.lake_uri
        self.silver_uri = table_path(lake, SILVER_ALERTS.name)
        self.cutouts_uri = table_path(lake, SILVER_CUTOUTS.name)
        self.rejects_uri = table_path(lake, SILVER_REJECTS.name)
        self.seen = SeenCandids(self.silver_uri)

    def _append(self, df: DataFrame, uri: str, batch_id: int) -> None:
        meta = {"siskin.replay": "true"} if self.replay else {}
        self.engine.append(
            df, uri, partition_by=("night",), app_id=self.app_id, version=batch_id, metadata=meta
        )

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        started = datetime.now(UTC)
        spark = bronze.sparkSession
        decoded = bronze.mapInArrow(decode_mapper(self.settings), from_arrow_schema(decoded_schema()))
        decoded = decoded.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            keys = decoded.select(KIND, "candid", "night").toArrow()
            if keys.num_rows == 0:
                return
            kinds = keys.column(KIND).to_numpy(zero_copy_only=False)
            is_alert = kinds == "alert"
            candids = keys.column("candid").to_numpy(zero_copy_only=False)[is_alert].astype(np.int64)
            nights = keys.column("night").to_numpy(zero_copy_only=False)[is_alert].astype(np.int32)
            seen = self.seen.seen(candids, nights)
            fresh = np.unique(candids[~seen])
            n_rejects = int((~is_alert).sum())
            duplicates = len(candids) - len(fresh)

            alerts = decoded.filter(F.col(KIND) == "alert")
            if seen.any():
                old = pa.table({"candid": np.unique(candids[seen])})
                alerts = alerts.join(F.broadcast(spark.createDataFrame(old)), "candid", "left_anti")
            if len(np.unique(candids)) < len(candids):
                alerts = alerts.dropDuplicates(["candid"])
            # cutouts and rejects first, silver last: a committed silver batch implies the others
            if len(fresh):
                self._append(alerts.select(*cutouts_schema().names), self.cutouts_uri, batch_id)
            if n_rejects:
                rejects = decoded.filter(F.col(KIND) == "reject").select(*rejects_schema().names)
                self._append(rejects, self.rejects_uri, batch_id)
            if len(fresh):
                self._append(alerts.select(*silver_schema().names), self.silver_uri, batch_id)
                self.seen.add(fresh, _nights_for(fresh, candids, nights))
            record_batch(
                self.settings,
                BatchReport(
                    query=self.query,
                    app_id=self.app_id,
                    batch_id=batch_id,
                    started_at=started,
                    input_rows=int(keys.num_rows),
                    output_rows=int(len(fresh)),
                    rejects=n_rejects,
                    duplicates=int(duplicates),
                    nights=sorted({int(n) for n in nights}),
                    replay=self.replay,
                ),
            )
        finally:
            decoded.unpersist()


def _nights_for(fresh: np.ndarray, candids: np.ndarray, nights: np.ndarray) -> np.ndarray:
    """The night of each fresh candid (first occurrence)."""
    uniq, first = np.unique(candids, return_index=True)
    pos = np.searchsorted(uniq, fresh)
    return nights[first[pos]]
