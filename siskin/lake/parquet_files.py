"""Write Arrow data as Delta-ready Parquet files: hive-style partition folders plus file stats.

Runs on executors; the driver later commits the returned `FileAdd`s in one Delta transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

STATS_COLUMNS = 32  # Delta's default dataSkippingNumIndexedCols


@dataclass(frozen=True)
class FileAdd:
    """A written data file, as the driver needs it to build the Delta `add` action."""

    path: str
    size: int
    partition_values: dict[str, str | None]
    modification_time: int
    stats: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """The Arrow filesystem and in-filesystem path for a local path or object-store URI."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), uri
    return pafs.FileSystem.from_uri(uri)


def _stat_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and value != value:  # NaN is not valid JSON for stats
        return None
    return value


def file_stats(table: pa.Table) -> str:
    """Delta `stats` JSON: row count and min/max/null counts of the first primitive columns."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name in table.column_names[:STATS_COLUMNS]:
        col = table.column(name)
        nulls[name] = col.null_count
        typ = col.type
        if not (
            pa.types.is_integer(typ)
            or pa.types.is_floating(typ)
            or pa.types.is_timestamp(typ)
            or pa.types.is_string(typ)
            or pa.types.is_large_string(typ)
            or pa.types.is_date(typ)
        ):
            continue
        if col.null_count == len(col):
            continue
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if isinstance(lo, str):
            lo, hi = lo[:32], hi[:32] + "\U0010ffff" if len(hi) > 32 else hi
        mins[name], maxs[name] = _stat_value(lo), _stat_value(hi)
    return json.dumps(
        {"numRecords": table.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
    )


def _partition_dir(partition_by: tuple[str, ...], values: tuple[Any, ...]) -> str:
    parts = []
    for col, val in zip(partition_by, values, strict=True):
        text = "__HIVE_DEFAULT_PARTITION__" if val is None else str(val)
        parts.append(f"{col}={text}")
    return "/".join(parts)


def split_by_partition(
    table: pa.Table, partition_by: tuple[str, ...]
) -> Iterable[tuple[tuple[Any, ...], pa.Table]]:
    """Group a table by its partition columns (vectorised: one group_by, then filters per key)."""
    if not partition_by:
        yield (), table
        return
    keys = table.select(list(partition_by)).group_by(list(partition_by)).aggregate([])
    if keys.num_rows == 1:  # the usual micro-batch: one night, so no filter copying every payload
        row = keys.to_pylist()[0]
        yield tuple(row[c] for c in partition_by), table.drop_columns(list(partition_by))
        return
    for row in keys.to_pylist():
        mask = None
        for col in partition_by:
            val = row[col]
            cond = (
                pc.is_null(table[col])
                if val is None
                else pc.equal(table[col], pa.scalar(val, table[col].type))
            )
            mask = cond if mask is None else pc.and_(mask, cond)
        yield tuple(row[c] for c in partition_by), table.filter(mask).drop_columns(list(partition_by))


# Row groups small enough that a reader looking for one object (files sorted by objectId after
# `siskin maintain`) decodes a few thousand alerts' histories, not a whole file's; the page index lets
# Spark and DuckDB skip pages inside them too.
ROW_GROUP_ROWS = 4096


def _encoding(schema: pa.Schema) -> dict[str, Any]:
    """Dictionaries and min/max statistics for every column but large blobs (payloads, cutouts):
    on unique 50 KB values they cost as much as writing them and never help a reader."""
    small = [f.name for f in schema if not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type))]
    return {
        "use_dictionary": small,
        "write_statistics": small,
        "row_group_size": ROW_GROUP_ROWS,
        "write_page_index": True,
    }


def _write_chunks(
    table: pa.Table,
    table_uri: str,
    partition_by: tuple[str, ...],
    target_rows: int,
    compression: str | dict[str, str],
) -> Iterable[tuple[FileAdd, pa.Table]]:
    fs, root = filesystem_for(table_uri)
    for values, part in split_by_partition(table, partition_by):
        rel_dir = _partition_dir(partition_by, values)
        fs.create_dir(f"{root}/{rel_dir}" if rel_dir else root, recursive=True)
        for start in range(0, max(part.num_rows, 1), target_rows):
            chunk = part.slice(start, target_rows)
            if chunk.num_rows == 0:
                continue
            name = f"part-{uuid.uuid4().hex}.parquet"
            rel = f"{rel_dir}/{name}" if rel_dir else name
            codecs = (
                compression
                if isinstance(compression, str)
                else {c: compression.get(c, compression.get("*", "zstd")) for c in chunk.column_names}
            )
            with fs.open_output_stream(f"{root}/{rel}") as out:
                pq.write_table(chunk, out, compression=codecs, **_encoding(chunk.schema))
            size = fs.get_file_info(f"{root}/{rel}").size
            pvals = {c: (None if v is None else str(v)) for c, v in zip(partition_by, values, strict=True)}
            add = FileAdd(
                rel, int(size or 0), pvals, int(time.time() * 1000), file_stats(chunk), chunk.num_rows
            )
            yield add, chunk


def write_data_files(
    table: pa.Table,
    table_uri: str,
    partition_by: tuple[str, ...],
    *,
    target_rows: int = 20000,
    compression: str | dict[str, str] = "zstd",
) -> list[FileAdd]:
    """Write `table` under `table_uri` as Parquet files, one folder per partition value.

    `compression` is one codec, or a per-column mapping (`"*"` for the rest): already-compressed
    blobs (gzip cutouts) are cheaper stored as they are.
    """
    return [add for add, _ in _write_chunks(table, table_uri, partition_by, target_rows, compression)]


def write_data_files_with_keys(
    table: pa.Table,
    table_uri: str,
    partition_by: tuple[str, ...],
    key_column: str,
    *,
    target_rows: int = 20000,
    compression: str | dict[str, str] = "zstd",
) -> list[tuple[FileAdd, list[int]]]:
    """Like `write_data_files`, also returning the `key_column` values each file holds."""
    return [
        (add, chunk.column(key_column).to_pylist())
        for add, chunk in _write_chunks(table, table_uri, partition_by, target_rows, compression)
    ]


def rewrite_file(table_uri: str, add: FileAdd, keep: Any) -> FileAdd | None:
    """Replace a not-yet-committed data file by its rows where `keep` (bool mask) is true.

    Used before commit to drop duplicates; None (and the file deleted) when no row is left.
    """
    fs, root = filesystem_for(table_uri)
    old = f"{root}/{add.path}"
    table = pq.read_table(old, filesystem=fs).filter(pa.array(keep, pa.bool_()))
    fs.delete_file(old)
    if table.num_rows == 0:
        return None
    rel = (
        f"{add.path.rsplit('/', 1)[0]}/part-{uuid.uuid4().hex}.parquet"
        if "/" in add.path
        else f"part-{uuid.uuid4().hex}.parquet"
    )
    with fs.open_output_stream(f"{root}/{rel}") as out:
        pq.write_table(table, out, compression="zstd", **_encoding(table.schema))
    size = fs.get_file_info(f"{root}/{rel}").size
    return FileAdd(
        rel, int(size or 0), add.partition_values, int(time.time() * 1000), file_stats(table), table.num_rows
    )
