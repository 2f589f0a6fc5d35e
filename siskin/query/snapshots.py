"""Delta versions as plain Parquet trees, so the SQL endpoint reads lake tables with Spark's native reader.

Without delta-spark's jars Spark cannot read a Delta table by itself, and a Python data source plans
every query in a Python worker (seconds per query). But a Delta version is only a list of live
Parquet files plus partition values that the files' hive-style paths (`night=20261121/part-...`)
already carry. For each version the endpoint serves, this module hard-links that version's live files
into a directory of its own (`<state>/snapshots/<table>/v<version>`): a catalog table `USING parquet`
over that directory sees exactly that version, no more (files written but not committed, files of a
later commit) and no less (files compaction or vacuum removed later stay readable through their links).
Spark then prunes partitions, pushes filters into Parquet row groups and reads columnar, in the JVM.

A table is served this way only when its version needs nothing else from the log to be read right: no
deletion vectors, no column mapping, relative paths. Others (and object-store lakes) keep the Python
data source (`siskin.query.lake_source`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Snapshot:
    """One served version of one table: its Parquet tree and what declares it."""

    table: str
    version: int
    location: Path
    schema: pa.Schema
    partition_by: tuple[str, ...]


def natively_readable(table: Any) -> bool:
    """Whether a Delta version reads right as plain Parquet (no deletion vectors, no column mapping)."""
    protocol = table.protocol()
    features = set(getattr(protocol, "reader_features", None) or ())
    if features & {"deletionVectors", "columnMapping"}:
        return False
    mode = (table.metadata().configuration or {}).get("delta.columnMapping.mode", "none")
    return mode in ("none", None)


def _link(source: Path, target: Path) -> None:
    """A hard link (the file outlives a vacuum while served); a symbolic link across file systems."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: the snapshot root is on another file system
            raise
        os.symlink(source, target)


class SnapshotTree:
    """The hard-linked Parquet trees of the versions being served, under one root.

    A superseded tree is kept `grace_s` seconds, so queries planned over it can finish, then removed.
    """

    def __init__(self, root: Path, grace_s: float = 900.0) -> None:
        self.root = root
        self.grace_s = grace_s
        self.superseded: dict[Path, float] = {}

    def build(self, name: str, table_root: Path, table: Any) -> Snapshot | None:
        """Link the live files of `table`'s loaded version; None when the version cannot be read natively."""
        if not natively_readable(table):
            return None
        actions = pa.table(table.get_add_actions(flatten=True))
        paths = [str(p) for p in actions.column("path").to_pylist()] if actions.num_rows else []
        if any(p.startswith("/") or "://" in p or ".." in p.split("/") for p in paths):
            return None
        version = int(table.version())
        location = self.root / name / f"v{version}"
        if not location.is_dir():
            scratch = self.root / name / f".v{version}.{os.getpid()}.{time.monotonic_ns()}"
            scratch.mkdir(parents=True)
            for path in paths:
                _link(table_root / path, scratch / path)
            try:
                scratch.rename(location)
            except OSError:  # built meanwhile by another sync: use that one
                shutil.rmtree(scratch, ignore_errors=True)
        schema = pa.schema(table.schema().to_arrow())
        partition_by = tuple(table.metadata().partition_columns)
        return Snapshot(name, version, location, schema, partition_by)

    def retire(self, location: Path) -> None:
        """Mark a tree as no longer served; it is removed after the grace period."""
        self.superseded.setdefault(location, time.monotonic())

    def prune(self) -> int:
        """Remove superseded trees older than the grace period; how many were removed."""
        now = time.monotonic()
        old = [p for p, since in self.superseded.items() if now - since >= self.grace_s]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
            del self.superseded[path]
        return len(old)


def ddl_type(kind: Any) -> str:
    """A Spark type as DDL, every struct field name quoted (names with odd characters survive)."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(kind, StructType):
        fields = ",".join(f"`{f.name.replace('`', '``')}`:{ddl_type(f.dataType)}" for f in kind.fields)
        return f"struct<{fields}>"
    if isinstance(kind, ArrayType):
        return f"array<{ddl_type(kind.elementType)}>"
    if isinstance(kind, MapType):
        return f"map<{ddl_type(kind.keyType)},{ddl_type(kind.valueType)}>"
    return str(kind.simpleString())


def create_table_sql(qualified: str, snapshot: Snapshot) -> str:
    """`CREATE TABLE layer.name (...) USING parquet [PARTITIONED BY (...)] LOCATION '...'`."""
    from pyspark.sql.pandas.types import from_arrow_schema

    spark_schema = from_arrow_schema(snapshot.schema)
    columns = ", ".join(f"`{f.name}` {ddl_type(f.dataType)}" for f in spark_schema.fields)
    partitioned = ""
    if snapshot.partition_by:
        partitioned = " PARTITIONED BY (" + ", ".join(f"`{c}`" for c in snapshot.partition_by) + ")"
    location = str(snapshot.location).replace("'", "\\'")
    return f"CREATE TABLE {qualified} ({columns}) USING parquet{partitioned} LOCATION '{location}'"
