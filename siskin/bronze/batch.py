"""The bronze micro-batch: received payloads -> bronze files written in Spark tasks, one commit.

The task that receives a batch of payloads also hashes, peeks and writes them, so a payload
crosses from the JVM to Python once; the driver commits the batch's files with the app
transaction (checkpoint app id, batch id), which makes a replayed batch a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame

from siskin.bronze.transform import bronze_transform
from siskin.config import Settings
from siskin.lake.tables import BRONZE_ALERTS, BRONZE_SCHEMA, table_path
from siskin.lake.task_writer import Target, write_in_tasks
from siskin.ops.batches import BatchReport, record_batch

# Payloads are mostly gzip cutouts: lz4 saves ~20% at a third of zstd's CPU; other columns zstd.
PAYLOAD_LZ4 = {"payload": "lz4", "*": "zstd"}


@dataclass
class BronzeStage:
    """`foreachBatch` body of a source -> bronze query."""

    settings: Settings
    app_id: str
    query: str = "bronze"
    kafka_options: dict[str, str] | None = None  # when the source hands over offset ranges

    def __call__(self, received: DataFrame, batch_id: int) -> None:
        from siskin.lake.transactions import already_committed, commit_files

        uri = table_path(self.settings.lake_uri, BRONZE_ALERTS.name)
        if already_committed(uri, self.app_id, batch_id):
            return
        started = datetime.now(UTC)
        transform = bronze_transform(self.settings.decode, self.kafka_options)
        written = write_in_tasks(
            received,
            transform,
            {"bronze": Target(uri, ("night",), compression=PAYLOAD_LZ4)},
            target_rows=self.settings.delta.target_file_rows,
        )
        if not written:
            return
        files = [w.add for w in written]
        commit_files(uri, files, BRONZE_SCHEMA, ("night",), app_id=self.app_id, version=batch_id)
        nights = sorted({int(f.partition_values["night"] or 0) for f in files})
        rows = sum(f.rows for f in files)
        record_batch(
            self.settings,
            BatchReport(
                query=self.query,
                app_id=self.app_id,
                batch_id=batch_id,
                started_at=started,
                input_rows=rows,
                output_rows=rows,
                nights=nights,
            ),
        )
