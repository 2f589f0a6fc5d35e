"""Row counts and a content checksum of every lake table, read with deltalake (no Spark), for rerun checks."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from siskin.config import Settings
from siskin.lake.catalog import tables

# Columns holding when a step ran, not what it computed: a rerun (the reclassification replays the night)
# writes the same rows at a later time. The marts' pipeline latency is derived from `processed_at`.
RUN_TIME_COLUMNS = (
    "processed_at",
    "updated_at",
    "xmatch_time",
    "checked_at",
    "latency_p50_s",
    "latency_p95_s",
    "latency_max_s",
)


def _sortable(field: pa.Field) -> bool:
    t = field.type
    return not (pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def table_checksum(data: pa.Table, key: tuple[str, ...]) -> str:
    """sha256 of the table's rows in a canonical order (key columns, then every sortable column)."""
    order = [*key, *(f.name for f in data.schema if _sortable(f) and f.name not in key)]
    data = data.select(sorted(data.column_names))
    if data.num_rows:
        data = data.sort_by([(name, "ascending") for name in order])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        for batch in data.combine_chunks().to_batches():
            writer.write_batch(batch)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def snapshot(settings: Settings) -> dict[str, tuple[int, str]]:
    """{table: (rows, checksum)} for every catalog table that exists in the lake."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    out = {}
    for spec in tables():
        try:
            data = DeltaTable(spec.path(settings.lake_uri)).to_pyarrow_table()
        except TableNotFoundError:
            continue
        data = data.drop_columns([c for c in RUN_TIME_COLUMNS if c in data.column_names])
        out[spec.name] = (data.num_rows, table_checksum(data, spec.key))
    return out
