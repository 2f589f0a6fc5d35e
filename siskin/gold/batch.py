"""The gold micro-batch: fold new silver alerts into `gold.objects` with one idempotent MERGE.

The stream hands over references to the silver files a batch added; the driver reads only the
few columns gold needs from them (no alert payload or history moves through Spark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import DataFrame

from siskin.config import Settings
from siskin.gold.objects import GOLD_INPUT_COLUMNS, upsert_alerts
from siskin.lake.tables import GOLD_OBJECTS, SILVER_ALERTS, table_path
from siskin.ops.batches import BatchReport, record_batch


def silver_columns(silver: DataFrame, silver_uri: str) -> pa.Table:
    """The gold input columns of a batch given as silver file references or as silver rows."""
    from siskin.lake.delta_source import read_file_refs

    if "path" in silver.columns and "candid" not in silver.columns:
        refs = silver.toArrow()
        parts = list(read_file_refs(silver_uri, refs, columns=list(GOLD_INPUT_COLUMNS), batch_rows=50000))
        if not parts:
            return pa.table({c: [] for c in GOLD_INPUT_COLUMNS})
        table = pa.concat_tables(
            [p.select(list(GOLD_INPUT_COLUMNS)) for p in parts], promote_options="permissive"
        )
        return table.set_column(
            table.schema.get_field_index("night"), "night", table.column("night").cast(pa.int32())
        )
    return silver.select(*GOLD_INPUT_COLUMNS).toArrow()


@dataclass
class GoldStage:
    """`foreachBatch` body of the silver -> gold query."""

    settings: Settings
    app_id: str
    query: str = "gold"

    def __call__(self, silver: DataFrame, batch_id: int) -> None:
        started = datetime.now(UTC)
        alerts = silver_columns(silver, table_path(self.settings.lake_uri, SILVER_ALERTS.name))
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
