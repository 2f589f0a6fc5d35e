"""The one skeleton every stage's micro-batch follows (bronze, silver, gold, replay).

    already committed? -> tasks write (transform) -> driver deduplicates -> commit each table with the
    app transaction (checkpoint app id, batch id) -> record the batch in `ops.batches`

A stage supplies `produce` (what the batch writes) and may override `commit_table` (gold MERGEs
instead of appending files). The *marker* table is committed last: a batch whose marker commit
exists is complete, and Spark replaying it after a crash is a no-op. The batch report travels in
the marker commit's metadata, so a crash between that commit and the `ops.batches` row is repaired
when the batch is replayed.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from pyspark.sql import DataFrame

from siskin.config import Settings
from siskin.lake.catalog import TableSpec, table
from siskin.lake.parquet_files import FileAdd
from siskin.ops.batches import BatchReport, record_batch, report_from_metadata

log = logging.getLogger(__name__)

REPLAY_KEY = "siskin.replay"
REPORT_KEY = "siskin.batch"


@dataclass
class BatchOutput:
    """What one micro-batch commits: per table (in commit order, marker last) files or rows, and counts."""

    files: dict[str, list[FileAdd]] = field(default_factory=dict)
    rows: dict[str, Any] = field(default_factory=dict)  # tables committed from driver-side data (gold)
    input_rows: int = 0
    output_rows: int = 0
    rejects: int = 0
    duplicates: int = 0
    nights: list[int] = field(default_factory=list)


@dataclass
class Stage(ABC):
    """`foreachBatch` body of one streaming query, writing the tables the catalog assigns to `writer`."""

    settings: Settings
    app_id: str
    query: str
    replay: bool = False

    writer: ClassVar[str]  # the catalog's `writer` of the tables this stage commits
    marker: ClassVar[str]  # the table committed last: its commit marks the batch done

    def path(self, name: str) -> str:
        return table(name).path(self.settings.lake_uri)

    def spec(self, name: str) -> TableSpec:
        return table(name)

    @abstractmethod
    def produce(self, df: DataFrame, batch_id: int) -> BatchOutput | None:
        """Transform and write the batch (Spark tasks), deduplicate; None when there is nothing to commit."""

    def commit_order(self, output: BatchOutput) -> list[str]:
        """Tables to commit, the marker last."""
        names = [n for n in [*output.files, *output.rows] if n != self.marker]
        return [*dict.fromkeys(names), self.marker]

    def commit_table(self, name: str, output: BatchOutput, batch_id: int, metadata: dict[str, str]) -> None:
        """Append the table's files with the app transaction (skipped if already committed)."""
        from siskin.lake.transactions import commit_files

        spec = self.spec(name)
        commit_files(
            spec.path(self.settings.lake_uri),
            output.files.get(name, []),
            spec.arrow_schema(),
            spec.partition_by,
            app_id=self.app_id,
            version=batch_id,
            metadata=metadata,
        )

    def already_committed(self, batch_id: int) -> bool:
        from siskin.lake.transactions import already_committed

        return already_committed(self.path(self.marker), self.app_id, batch_id)

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        if self.already_committed(batch_id):
            self._repair_report(batch_id)
            return
        started = datetime.now(UTC)
        output = self.produce(df, batch_id)
        if output is None:
            return
        report = BatchReport(
            query=self.query,
            app_id=self.app_id,
            batch_id=batch_id,
            started_at=started,
            input_rows=output.input_rows,
            output_rows=output.output_rows,
            rejects=output.rejects,
            duplicates=output.duplicates,
            nights=sorted(output.nights),
            replay=self.replay,
        )
        metadata = {REPORT_KEY: json.dumps(report.to_json())}
        if self.replay:
            metadata[REPLAY_KEY] = "true"
        for name in self.commit_order(output):
            self.commit_table(name, output, batch_id, metadata)
        record_batch(self.settings, report)

    def _repair_report(self, batch_id: int) -> None:
        """A batch committed before a crash lost its `ops.batches` row: take it from the marker commit."""
        report = report_from_metadata(self.path(self.marker), self.app_id, batch_id)
        if report is not None:
            record_batch(self.settings, report)
