"""Driver-side Delta commits with delta-rs: one transaction per micro-batch, idempotent by app id.

A commit carries an app transaction `(app_id, version)`; when the table already records that
app at that version or later, the batch was committed before a crash and is skipped. That makes
a replayed micro-batch a no-op, hence exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction

from siskin.lake.parquet_files import FileAdd

log = logging.getLogger(__name__)


def open_table(uri: str) -> DeltaTable | None:
    """The Delta table at `uri`, or None when there is none yet."""
    try:
        return DeltaTable(uri)
    except TableNotFoundError:
        return None


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
    uri: str, schema: pa.Schema, partition_by: Sequence[str], description: str = ""
) -> DeltaTable:
    """Create the table with `schema` unless it exists (concurrent creators are fine)."""
    table = open_table(uri)
    if table is not None:
        return table
    try:
        return DeltaTable.create(
            uri,
            schema=_delta_safe(schema),
            partition_by=list(partition_by) or None,
            mode="ignore",
            description=description or None,
        )
    except Exception:  # a concurrent creator won the race
        table = open_table(uri)
        if table is None:
            raise
        return table


def committed_version(table: DeltaTable, app_id: str) -> int | None:
    """The last micro-batch this app committed to the table, if any."""
    return table.transaction_version(app_id)


def already_committed(uri: str, app_id: str, version: int) -> bool:
    """Whether the table records this app's batch `version` (or a later one): a replay to skip."""
    table = open_table(uri)
    done = committed_version(table, app_id) if table is not None else None
    return done is not None and done >= version


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
    """Commit written files in one transaction; False when this (app_id, version) was committed already."""
    table = ensure_table(uri, schema, partition_by)
    if app_id is not None and version is not None:
        done = committed_version(table, app_id)
        if done is not None and done >= version:
            log.info("skip %s: batch %s already committed by %s", uri, version, app_id)
            return False
    actions: list[AddAction | RemoveAction] = []
    for f in files:
        d = f.to_dict() if isinstance(f, FileAdd) else f
        actions.append(
            AddAction(d["path"], d["size"], d["partition_values"], d["modification_time"], True, d["stats"])
        )
    txns = (
        [Transaction(app_id=app_id, version=version)] if app_id is not None and version is not None else None
    )
    props = CommitProperties(app_transactions=txns, custom_metadata=metadata or None)
    table_schema = table.schema().to_arrow()
    table.create_write_transaction(
        actions,
        mode="append",
        schema=pa.schema(table_schema),
        partition_by=list(partition_by) or None,
        commit_properties=props,
    )
    return True


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
