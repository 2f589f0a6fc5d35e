"""Driver-side Delta commits with delta-rs: one transaction per micro-batch, idempotent by app id.

A commit carries an app transaction `(app_id, version)`; when the table already records that
app at that version or later, the batch was committed before a crash and is skipped. That makes
a replayed micro-batch a no-op, hence exactly-once.

Every micro-batch asks "already committed?" and commits, on tables that gain a version per batch.
Loading a table's snapshot from scratch costs its checkpoint plus the log tail, and grows with its
file count; so each thread keeps its tables open (`current_table`) and only reads the commits added
since it last looked (`update_incremental`). Delta checkpoints (every `delta.checkpointInterval`
commits, 100 by default) bound what a cold load reads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Transaction
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction

from siskin.errors import LakeError
from siskin.lake.parquet_files import FileAdd

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 8

# After every commit delta-rs would look for expired log entries (listing and dating the whole log, ~70 ms
# per commit at 10,000 entries). Checkpoints stay on (every `delta.checkpointInterval` commits); expired
# entries are dropped by `siskin maintain` instead.
STREAM_COMMIT_HOOKS = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
T = TypeVar("T")

_open = threading.local()  # per thread {uri: DeltaTable}: delta-rs table objects are not thread-safe


def open_table(uri: str) -> DeltaTable | None:
    """The Delta table at `uri`, freshly loaded, or None when there is none yet."""
    try:
        return DeltaTable(uri)
    except TableNotFoundError:
        return None


def _local_log(uri: str) -> str | None:
    """The table's `_delta_log` directory when it is on the local filesystem, else None."""
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif "://" in uri:
        return None
    return os.path.join(uri, "_delta_log")


def _log_state(table: DeltaTable, uri: str) -> str:
    """`same`, `newer` or `replaced` for a local table against the version this copy holds (two stats);
    `unknown` for object stores.

    A stage asks for the same tables several times per micro-batch (already committed? the commit, the
    `ops.batches` row); delta-rs's `update_incremental` lists the log each time (~3 ms). The version
    after ours missing and ours present means nothing changed; ours missing means the table was deleted
    and recreated underneath (a younger log), which an incremental update would not notice.
    """
    log_dir = _local_log(uri)
    if log_dir is None:
        return "unknown"
    version = table.version()
    if not os.path.exists(os.path.join(log_dir, f"{version:020d}.json")):
        return "replaced"
    return "newer" if os.path.exists(os.path.join(log_dir, f"{version + 1:020d}.json")) else "same"


def current_table(uri: str, *, refresh: bool = True) -> DeltaTable | None:
    """The table at its latest version, kept open per thread and brought up to date incrementally.

    Costs two `stat`s when nothing changed (local tables), else one log listing plus the commits added
    since the previous call, whatever the table's history. `refresh=False`: this thread's copy as it is.
    """
    tables: dict[str, DeltaTable] = _open.__dict__.setdefault("tables", {})
    table = tables.get(uri)
    if table is not None:
        try:
            state = _log_state(table, uri) if refresh else "same"
            if state == "replaced":
                raise LakeError(f"{uri} was recreated")
            if state != "same":
                table.update_incremental()
            return table
        except Exception:  # the table was deleted or replaced underneath: load it again
            tables.pop(uri, None)
    table = open_table(uri)
    if table is not None:
        tables[uri] = table
    return table


def forget_table(uri: str) -> None:
    """Drop this thread's open copy of a table (after it was deleted or recreated)."""
    _open.__dict__.setdefault("tables", {}).pop(uri, None)


def retry_conflicts(uri: str, attempt: Callable[[], T], what: str) -> T:
    """Run a commit, again after a concurrent commit conflicted with it (`siskin maintain` compacting)."""
    for n in range(COMMIT_ATTEMPTS):
        try:
            return attempt()
        except CommitFailedError as exc:
            if n == COMMIT_ATTEMPTS - 1:
                raise LakeError(f"{what} on {uri} kept conflicting with concurrent commits: {exc}") from exc
            log.info("%s on %s conflicted with a concurrent commit, retrying: %s", what, uri, exc)
            time.sleep(min(2.0, 0.05 * 2**n))
    raise AssertionError("unreachable")


def _delta_safe(schema: pa.Schema) -> pa.Schema:
    """Large Arrow string/binary types as the Delta protocol's plain string/binary."""

    def fix(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(pa.field(t.value_field.name, fix(t.value_type), t.value_field.nullable))
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, fix(f.type), f.nullable) for f in t])
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", tz="UTC") if t.tz else pa.timestamp("us")
        return t

    return pa.schema([pa.field(f.name, fix(f.type), True) for f in schema])


def ensure_table(
    uri: str,
    schema: pa.Schema,
    partition_by: Sequence[str],
    description: str = "",
    configuration: Mapping[str, str] | None = None,
) -> DeltaTable:
    """Create the table with `schema` unless it exists (concurrent creators are fine); this thread's copy."""
    table = current_table(uri)
    if table is not None:
        return table
    try:
        DeltaTable.create(
            uri,
            schema=_delta_safe(schema),
            partition_by=list(partition_by) or None,
            mode="ignore",
            description=description or None,
            configuration=dict(configuration) if configuration else None,
        )
    except Exception:  # a concurrent creator won the race
        if open_table(uri) is None:
            raise
    table = current_table(uri)
    if table is None:
        raise LakeError(f"could not create the Delta table at {uri}")
    return table


def add_missing_columns(uri: str, schema: pa.Schema) -> list[str]:
    """Add to an existing table the (nullable) columns of `schema` it lacks; their names.

    How the science layer grows silver: a new module's outputs become new columns, older rows read null.
    """
    from deltalake.schema import Field as DeltaField

    table = current_table(uri)
    if table is None:
        return []
    have = set(table.schema().to_arrow().names)
    missing = [f for f in _delta_safe(schema) if f.name not in have]
    if missing:
        table.alter.add_columns([DeltaField.from_arrow(f) for f in missing])
    return [f.name for f in missing]


def committed_version(table: DeltaTable, app_id: str) -> int | None:
    """The last micro-batch this app committed to the table, if any."""
    return table.transaction_version(app_id)


def already_committed(uri: str, app_id: str, version: int) -> bool:
    """Whether the table records this app's batch `version` (or a later one): a replay to skip."""
    table = current_table(uri)
    done = committed_version(table, app_id) if table is not None else None
    return done is not None and done >= version


def _add_action(f: FileAdd | dict[str, Any]) -> AddAction:
    d = f.to_dict() if isinstance(f, FileAdd) else f
    return AddAction(d["path"], d["size"], d["partition_values"], d["modification_time"], True, d["stats"])


def commit_files(
    uri: str,
    files: Sequence[FileAdd | dict[str, Any]],
    schema: pa.Schema,
    partition_by: Sequence[str],
    *,
    app_id: str | None,
    version: int | None,
    metadata: dict[str, str] | None = None,
) -> bool:
    """Commit written files in one transaction; False when this (app_id, version) was committed already.

    A blind append: retried when a concurrent commit (a table property change) conflicts with it.
    """
    actions: list[AddAction | RemoveAction] = [_add_action(f) for f in files]
    txns = (
        [Transaction(app_id=app_id, version=version)] if app_id is not None and version is not None else None
    )
    props = CommitProperties(app_transactions=txns, custom_metadata=metadata or None)

    def attempt() -> bool:
        table = ensure_table(uri, schema, partition_by)
        if app_id is not None and version is not None:
            done = committed_version(table, app_id)
            if done is not None and done >= version:
                log.info("skip %s: batch %s already committed by %s", uri, version, app_id)
                return False
        table.create_write_transaction(
            actions,
            mode="append",
            schema=pa.schema(table.schema().to_arrow()),
            partition_by=list(partition_by) or None,
            commit_properties=props,
            post_commithook_properties=STREAM_COMMIT_HOOKS,
        )
        return True

    return retry_conflicts(uri, attempt, "append")


def append_arrow(
    uri: str,
    table: pa.Table,
    partition_by: Sequence[str] = (),
    *,
    app_id: str | None = None,
    version: int | None = None,
    metadata: dict[str, str] | None = None,
) -> bool:
    """Append a small driver-side Arrow table (ops rows, replays) with the same idempotent commit."""
    from siskin.lake.parquet_files import write_data_files

    ensure_table(uri, table.schema, partition_by)
    if app_id is not None and version is not None and already_committed(uri, app_id, version):
        return False
    files = write_data_files(table, uri, tuple(partition_by))
    return commit_files(
        uri, files, table.schema, partition_by, app_id=app_id, version=version, metadata=metadata
    )
