"""Operational record of every committed micro-batch (`ops.batches`): counts and timings per stage.

`siskin status` and the demo summary read it; the bench reads its commit times for latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from siskin.config import Settings
from siskin.lake.tables import OPS_BATCHES, OPS_BATCHES_SCHEMA, table_path


@dataclass
class BatchReport:
    """What one stage did in one micro-batch."""

    query: str
    app_id: str
    batch_id: int
    started_at: datetime
    input_rows: int
    output_rows: int
    rejects: int = 0
    duplicates: int = 0
    nights: list[int] = field(default_factory=list)
    replay: bool = False


def record_batch(settings: Settings, report: BatchReport) -> None:
    """Append the report, idempotently: a replayed batch does not add a second row."""
    from siskin.lake.transactions import append_arrow

    now = datetime.now(UTC)
    row = {
        "query": [report.query],
        "app_id": [report.app_id],
        "batch_id": [report.batch_id],
        "started_at": [report.started_at],
        "committed_at": [now],
        "seconds": [(now - report.started_at).total_seconds()],
        "input_rows": [report.input_rows],
        "output_rows": [report.output_rows],
        "rejects": [report.rejects],
        "duplicates": [report.duplicates],
        "nights": [",".join(str(n) for n in report.nights)],
        "replay": [report.replay],
    }
    table = pa.table(row, schema=OPS_BATCHES_SCHEMA)
    append_arrow(
        table_path(settings.lake_uri, OPS_BATCHES.name), table, app_id=report.app_id, version=report.batch_id
    )
