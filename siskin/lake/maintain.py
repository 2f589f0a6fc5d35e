"""`siskin maintain`: compaction, ordering, retention and log upkeep of lake tables, safe while streams run.

Streams leave many small files (one or more per partition per micro-batch). For each catalog table
(or one), maintenance:
1. sets the log properties from the settings (`delta.checkpointInterval`, `delta.logRetentionDuration`)
   where they differ;
2. rewrites each partition holding two or more small files into files of `target_file_mb`, ordered
   where reads benefit: by `zorder_by` when the catalog declares it, else by the `sort_by` columns that
   are not the row key (silver: `objectId`, so an object's alerts share files), else by `sort_by`
   (gold: `survey, objectId` within each sky cell; the cells themselves are gold's sky index). With
   `--night N`, only night N of night-partitioned tables;
3. VACUUMs files that left the table (or were never committed) more than `retention_hours` ago;
4. writes a log checkpoint and drops log entries older than `log_retention_days`.

Why it is safe while streams run: compaction commits add and remove files with `dataChange=false`,
which the Siskin streaming source skips (no row is read twice) and which leave every row in place;
a compaction and a stream's MERGE on the same files conflict in delta-rs, and whichever lost is run
again (`retry_conflicts`); appends never conflict with it. delta-rs does not detect two such
compactions of the same files, so one maintenance runs at a time (a lease), and `ops.batches`, which
the stages compact themselves, is compacted their way (`siskin.ops.batches.compact_if_due`).
VACUUM only deletes files older than the retention, which must exceed the longest micro-batch (a
batch's files exist before its commit) and the longest a stream lags (it may still read replaced files).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from siskin.config import Settings
from siskin.errors import ConfigurationError
from siskin.lake.catalog import TableSpec, table, tables

log = logging.getLogger(__name__)

MAINTAIN_KEY = "siskin.maintain"


@dataclass
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    partitions_rewritten: int = 0
    ordered_by: list[str] = field(default_factory=list)
    vacuumed_files: int = 0
    properties_set: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def table_properties(settings: Settings) -> dict[str, str]:
    """The Delta table properties every lake table gets (log checkpoints and log retention)."""
    m = settings.maintain
    return {
        "delta.checkpointInterval": str(m.checkpoint_interval),
        "delta.logRetentionDuration": f"interval {m.log_retention_days} days",
    }


def ordering(spec: TableSpec) -> list[str]:
    """Columns a table's files are ordered by when rewritten (Z-order; one column is a plain sort)."""
    if spec.zorder_by:
        return list(spec.zorder_by)
    beyond_key = [c for c in spec.sort_by if c not in spec.key]
    return beyond_key or list(spec.sort_by)


def _files(delta: Any) -> pa.Table:
    return pa.table(delta.get_add_actions(flatten=True))


def dirty_partitions(
    actions: pa.Table, partition_by: Sequence[str], small_bytes: int
) -> list[dict[str, str]]:
    """Partitions (as {column: value}) holding two or more files smaller than `small_bytes`.

    Null partition values are left alone (no lake table has them).
    """
    if actions.num_rows == 0:
        return []
    columns = [f"partition.{c}" for c in partition_by]
    small = actions.filter(pa.compute.less(actions.column("size_bytes"), small_bytes))
    if small.num_rows == 0:
        return []
    if not columns:
        return [{}] if small.num_rows >= 2 else []
    counts = small.group_by(columns).aggregate([("path", "count")])
    return [
        {c: str(row[f"partition.{c}"]) for c in partition_by}
        for row in counts.to_pylist()
        if row["path_count"] >= 2 and all(row[c] is not None for c in columns)
    ]


def _partition_filters(partition_by: Sequence[str], parts: list[dict[str, str]]) -> list[Any] | None:
    """delta-rs filters selecting exactly these partitions (single-column partitioning: one `in`)."""
    if not partition_by:
        return None
    if len(partition_by) != 1:
        raise ConfigurationError("maintenance supports tables partitioned by at most one column")
    column = partition_by[0]
    return [(column, "in", sorted({p[column] for p in parts}))]


def rewrite_small_files(
    uri: str, spec: TableSpec, *, night: int | None, target_bytes: int, report: TableMaintenance
) -> None:
    """Compact (and order) every partition with small files; conflicting commits make it start over."""
    from deltalake import CommitProperties

    from siskin.lake.transactions import current_table, retry_conflicts

    if spec.name == "ops.batches":  # the stages compact it too: use their conflict-safe rewrite
        from siskin.ops.batches import compact_if_due

        report.partitions_rewritten = int(compact_if_due(uri, max_files=1))
        return
    columns = ordering(spec)
    props = CommitProperties(custom_metadata={MAINTAIN_KEY: "optimize"})

    def attempt() -> int:
        delta = current_table(uri)
        if delta is None:
            return 0
        actions = _files(delta)
        if night is not None and "night" in spec.partition_by:
            wanted = actions.column("partition.night").cast(pa.string())
            actions = actions.filter(pa.compute.equal(wanted, str(night)))
        parts = dirty_partitions(actions, spec.partition_by, target_bytes // 2)
        if not parts:
            return 0
        filters = _partition_filters(spec.partition_by, parts)
        if columns:
            delta.optimize.z_order(
                columns, partition_filters=filters, target_size=target_bytes, commit_properties=props
            )
        else:
            delta.optimize.compact(
                partition_filters=filters, target_size=target_bytes, commit_properties=props
            )
        return len(parts)

    report.partitions_rewritten = retry_conflicts(uri, attempt, "compaction")
    report.ordered_by = columns if report.partitions_rewritten else []


def set_properties(uri: str, wanted: dict[str, str], report: TableMaintenance) -> None:
    """Set the table properties that differ from `wanted` (a metadata commit; concurrent writers retry)."""
    from siskin.lake.transactions import current_table, retry_conflicts

    def attempt() -> dict[str, str]:
        delta = current_table(uri)
        if delta is None:
            return {}
        current = delta.metadata().configuration
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed:
            delta.alter.set_table_properties(changed)
        return changed

    report.properties_set = retry_conflicts(uri, attempt, "setting table properties")


def vacuum(uri: str, retention_hours: int, report: TableMaintenance) -> None:
    """Delete files that left the table, or were never committed, more than `retention_hours` ago."""
    from deltalake import CommitProperties

    from siskin.lake.transactions import current_table, retry_conflicts

    def attempt() -> int:
        delta = current_table(uri)
        if delta is None:
            return 0
        return len(
            delta.vacuum(
                retention_hours=retention_hours,
                dry_run=False,
                enforce_retention_duration=False,
                full=True,  # also never-committed files of crashed batches, once they are this old
                commit_properties=CommitProperties(custom_metadata={MAINTAIN_KEY: "vacuum"}),
            )
        )

    report.vacuumed_files = retry_conflicts(uri, attempt, "vacuum")


def tidy_log(uri: str) -> None:
    """Checkpoint the log at its latest version and drop entries past the log retention."""
    from siskin.lake.transactions import current_table

    delta = current_table(uri)
    if delta is not None:
        delta.create_checkpoint()
        delta.cleanup_metadata()


def _sizes(uri: str) -> tuple[int, int]:
    from siskin.lake.transactions import current_table

    delta = current_table(uri)
    if delta is None:
        return 0, 0
    actions = _files(delta)
    return actions.num_rows, int(pa.compute.sum(actions.column("size_bytes")).as_py() or 0)


def maintain_table(
    settings: Settings, spec: TableSpec, *, night: int | None, retention_hours: int | None, do_vacuum: bool
) -> TableMaintenance:
    """Maintain one table (see the module docstring)."""
    from siskin.lake.transactions import current_table

    started = time.monotonic()
    uri = spec.path(settings.lake_uri)
    report = TableMaintenance(spec.name)
    if current_table(uri) is None:
        report.skipped = "no such table yet"
        return report
    report.files_before, report.bytes_before = _sizes(uri)
    set_properties(uri, table_properties(settings), report)
    target = settings.maintain.target_file_mb * 1024 * 1024
    rewrite_small_files(uri, spec, night=night, target_bytes=target, report=report)
    if do_vacuum and retention_hours is not None:
        vacuum(uri, retention_hours, report)
    tidy_log(uri)
    report.files_after, report.bytes_after = _sizes(uri)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def check_retention(settings: Settings, retention_hours: float | None, force: bool) -> int:
    """The VACUUM retention in whole hours; refuses one below `min_retention_hours` unless forced."""
    hours = settings.maintain.retention_hours if retention_hours is None else retention_hours
    if hours < settings.maintain.min_retention_hours and not force:
        raise ConfigurationError(
            f"a VACUUM retention of {hours} h is below maintain.min_retention_hours "
            f"({settings.maintain.min_retention_hours} h): files of a running micro-batch, or still read by "
            "a lagging stream, could be deleted. Pass --force if no stream runs."
        )
    return int(hours) if float(hours).is_integer() else int(hours) + 1


def maintain(
    settings: Settings,
    *,
    names: Sequence[str] | None = None,
    night: int | None = None,
    do_vacuum: bool = True,
    retention_hours: float | None = None,
    force: bool = False,
) -> list[TableMaintenance]:
    """Maintain the named tables (default: every catalog table), one maintenance at a time."""
    from siskin.ops.lease import acquire

    hours = check_retention(settings, retention_hours, force)
    specs = [table(n) for n in names] if names else tables()
    leases = acquire(settings.lake_uri, ["maintain"], "siskin maintain")
    try:
        return [
            maintain_table(settings, spec, night=night, retention_hours=hours, do_vacuum=do_vacuum)
            for spec in specs
        ]
    finally:
        for lease in leases:
            lease.release()
