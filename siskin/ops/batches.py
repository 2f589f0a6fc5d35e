"""Operational record of every committed micro-batch (`ops.batches`): counts and timings per stage.

`siskin status` and the demo summary read it; the bench reads its commit times for latency.
Each batch appends one row (one small file); once the table holds `maintain.ops_compact_every` files,
the writer that notices compacts them, so the table does not keep a file per batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from siskin.config import Settings
from siskin.lake.catalog import OPS_BATCHES_SCHEMA, table_path

log = logging.getLogger(__name__)

OPS_TARGET_BYTES = 8 * 1024 * 1024  # compacted ops files stop growing here, so each compaction stays cheap


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
    uri = table_path(settings.lake_uri, "ops.batches")
    if append_arrow(uri, table, app_id=report.app_id, version=report.batch_id):
        compact_if_due(uri, settings.maintain.ops_compact_every)


def compact_if_due(uri: str, max_files: int) -> bool:
    """Compact the table's small files once it holds more than `max_files` files (best effort).

    Every stage records its batches here, so several may compact at once. delta-rs does not see two
    `dataChange=false` compactions of the same files as a conflict (both would commit, rows doubled),
    so this compaction is a data-change rewrite: removing a file another commit already removed
    conflicts, and the loser gives up (the next batch tries again). Nothing streams from this table.
    """
    from deltalake import CommitProperties
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import AddAction, RemoveAction

    from siskin.lake.parquet_files import filesystem_for, write_data_files
    from siskin.lake.transactions import STREAM_COMMIT_HOOKS, current_table

    # counting the files costs O(files): only the writer of every k-th version looks (k a tenth of
    # `max_files`, so the table never holds more than 1.1 x `max_files`; this thread's copy is at the
    # version before its own commit)
    table = current_table(uri, refresh=False)
    if table is None or (table.version() + 1) % max(1, max_files // 10):
        return False
    table = current_table(uri)
    if table is None:
        return False
    files = pa.table(table.get_add_actions(flatten=True))
    small = files.filter(pa.compute.less(files.column("size_bytes"), OPS_TARGET_BYTES))
    if files.num_rows <= max_files or small.num_rows < 2:
        return False
    fs, root = filesystem_for(uri)
    paths = small.column("path").to_pylist()
    rows = pa.concat_tables(
        [pq.read_table(f"{root}/{p}", filesystem=fs, schema=OPS_BATCHES_SCHEMA) for p in paths]
    )
    written = write_data_files(rows, uri, (), target_rows=max(1, rows.num_rows))
    now = int(datetime.now(UTC).timestamp() * 1000)
    actions: list[AddAction | RemoveAction] = [RemoveAction(p, True, now, None, {}) for p in paths]
    actions += [AddAction(f.path, f.size, {}, f.modification_time, True, f.stats) for f in written]
    try:
        table.create_write_transaction(
            actions,
            mode="append",
            schema=pa.schema(table.schema().to_arrow()),
            commit_properties=CommitProperties(custom_metadata={"siskin.maintain": "compact"}),
            post_commithook_properties=STREAM_COMMIT_HOOKS,
        )
    except CommitFailedError as exc:
        log.info("ops.batches compaction skipped (another writer compacted first): %s", exc)
        return False
    return True
