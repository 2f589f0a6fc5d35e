"""The bronze micro-batch (driver side): received payloads -> bronze files written in Spark tasks, one commit.

The task that receives a batch of payloads also hashes, peeks and writes them (`siskin.bronze.transform`),
so a payload crosses from the JVM to Python once; the driver commits the batch's files with the app
transaction, which makes a replayed batch a no-op (`siskin.pipeline.stage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pyspark.sql import DataFrame

from siskin.bronze.transform import bronze_transform
from siskin.lake.task_writer import Target, write_in_tasks
from siskin.pipeline.stage import BatchOutput, Stage

BRONZE = "bronze.alerts"
# Payloads are mostly gzip cutouts: lz4 saves ~20% at a third of zstd's CPU; other columns zstd.
PAYLOAD_LZ4 = {"payload": "lz4", "*": "zstd"}


@dataclass
class BronzeStage(Stage):
    """`foreachBatch` body of a source -> bronze query."""

    kafka_options: dict[str, str] | None = None  # when the source hands over offset ranges

    writer: ClassVar[str] = "bronze"
    marker: ClassVar[str] = BRONZE

    def produce(self, df: DataFrame, batch_id: int) -> BatchOutput | None:
        spec = self.spec(BRONZE)
        written = write_in_tasks(
            df,
            bronze_transform(self.settings.decode, self.kafka_options),
            {BRONZE: Target(spec.path(self.settings.lake_uri), spec.partition_by, compression=PAYLOAD_LZ4)},
            target_rows=self.settings.delta.target_file_rows,
        )
        if not written:
            return None
        files = [w.add for w in written]
        rows = sum(f.rows for f in files)
        return BatchOutput(
            files={BRONZE: files},
            input_rows=rows,
            output_rows=rows,
            nights=sorted({int(f.partition_values["night"] or 0) for f in files}),
        )
