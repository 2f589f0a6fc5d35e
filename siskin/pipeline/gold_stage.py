"""The gold micro-batch: fold new silver alerts into `gold.objects` with one idempotent MERGE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame

from siskin.config import Settings
from siskin.lake.tables import GOLD_OBJECTS, table_path
from siskin.pipeline.gold import GOLD_INPUT_COLUMNS, upsert_alerts
from siskin.pipeline.ops import BatchReport, record_batch


@dataclass
class GoldStage:
    """`foreachBatch` body of the silver -> gold query."""

    settings: Settings
    app_id: str
    query: str = "gold"

    def __call__(self, silver: DataFrame, batch_id: int) -> None:
        started = datetime.now(UTC)
        alerts = silver.select(*GOLD_INPUT_COLUMNS).toArrow()
        if alerts.num_rows == 0:
            return
        frame = alerts.to_pandas()
        touched = upsert_alerts(
            table_path(self.settings.lake_uri, GOLD_OBJECTS.name), frame, app_id=self.app_id, version=batch_id
        )
        nights = sorted({int(n) for n in frame["night"].unique()})
        record_batch(
            self.settings,
            BatchReport(
                query=self.query,
                app_id=self.app_id,
                batch_id=batch_id,
                started_at=started,
                input_rows=alerts.num_rows,
                output_rows=touched,
                nights=nights,
            ),
        )
