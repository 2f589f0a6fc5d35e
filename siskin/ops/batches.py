"""Operational record of every committed micro-batch (`ops.batches`): counts and timings per stage.

`siskin status` and the demo summary read it; the bench reads its commit times for latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from siskin.config import Settings
from siskin.lake.catalog import OPS_BATCHES_SCHEMA, table_path


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

    def to_json(self) -> dict[str, object]:
        """The report as JSON-ready values (carried in the stage's marker commit)."""
        return {
            "query": self.query,
            "app_id": self.app_id,
            "batch_id": self.batch_id,
            "started_at": self.started_at.isoformat(),
            "input_rows": self.input_rows,
            "output_rows": self.output_rows,
            "rejects": self.rejects,
            "duplicates": self.duplicates,
            "nights": self.nights,
            "replay": self.replay,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchReport:
        return cls(**{**data, "started_at": datetime.fromisoformat(data["started_at"])})


def report_from_metadata(table_uri: str, app_id: str, batch_id: int, depth: int = 50) -> BatchReport | None:
    """The report a stage stored in its marker commit for this batch (searched among recent commits)."""
    import json

    from siskin.lake.transactions import open_table

    table = open_table(table_uri)
    if table is None:
        return None
    for info in table.history(depth):
        raw = info.get("siskin.batch")
        if not raw:
            continue
        data = json.loads(raw) if isinstance(raw, str) else raw
        if data.get("app_id") == app_id and int(data.get("batch_id", -1)) == batch_id:
            return BatchReport.from_json(data)
    return None


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
        table_path(settings.lake_uri, "ops.batches"), table, app_id=report.app_id, version=report.batch_id
    )
