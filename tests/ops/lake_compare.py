"""Row-by-row comparison of two lakes' catalog tables (what a replay must leave equal to a fresh ingest)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from siskin.lake.catalog import TableSpec, tables

# Set when a row is written, so they differ between two runs of the same input.
VOLATILE = {"processed_at", "ingest_time", "updated_at", "recorded_at"}
# Floating sums folded in a different order (streaming batches vs one replay): equal to rounding.
FOLDED = {"sum_x", "sum_y", "sum_z", "ra", "dec"}


def _sort_keys(spec: TableSpec, table: pa.Table) -> list[str]:
    if spec.key:
        return list(spec.key)
    preferred = ["bronze_sha256", "sha256", "alert_index", "reason_code", "file_member", "offset"]
    return [c for c in preferred if c in table.column_names]


def comparable(spec: TableSpec, lake_uri: str) -> pa.Table:
    """The table's rows, volatile columns dropped, in a canonical order."""
    table = DeltaTable(spec.path(lake_uri)).to_pyarrow_table()
    table = table.drop_columns([c for c in table.column_names if c in VOLATILE])
    keys = _sort_keys(spec, table)
    return table.sort_by([(k, "ascending") for k in keys]) if keys else table


def _same(x: pa.ChunkedArray | pa.Array, y: pa.ChunkedArray | pa.Array) -> bool:
    """Equal values, NaN equal to NaN (also inside structs, e.g. light-curve features of too few points)."""
    a = x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x
    b = y.combine_chunks() if isinstance(y, pa.ChunkedArray) else y
    if pa.types.is_struct(a.type):
        valid = a.is_valid().equals(b.is_valid())
        return valid and all(_same(a.field(i), b.field(i)) for i in range(a.type.num_fields))
    if pa.types.is_floating(a.type):
        xs, ys = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
        return a.is_valid().equals(b.is_valid()) and bool(np.array_equal(xs, ys, equal_nan=True))
    return a.equals(b)


def _differing(x: pa.ChunkedArray, y: pa.ChunkedArray) -> int:
    """How many rows differ (struct and list columns compared row by row)."""
    try:
        return int(pc.sum(pc.invert(pc.fill_null(pc.equal(x, y), False))).as_py() or 0)
    except pa.ArrowNotImplementedError:
        return sum(a != b for a, b in zip(x.to_pylist(), y.to_pylist(), strict=True))


def assert_same_lakes(left: str, right: str) -> dict[str, int]:
    """Every data table of the catalog (not ops) holds the same rows in both lakes; returns row counts."""
    counts = {}
    for spec in tables():
        if spec.layer == "ops":
            continue
        a, b = comparable(spec, left), comparable(spec, right)
        assert a.num_rows == b.num_rows, f"{spec.name}: {a.num_rows} rows vs {b.num_rows}"
        assert a.column_names == b.column_names, spec.name
        for name in a.column_names:
            x, y = a.column(name), b.column(name)
            if name in FOLDED and pa.types.is_floating(x.type):
                xs, ys = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
                assert np.allclose(xs, ys, rtol=1e-9, atol=1e-9, equal_nan=True), f"{spec.name}.{name}"
            else:
                assert _same(x, y), f"{spec.name}.{name} differs ({_differing(x, y)} rows)"
        counts[spec.name] = a.num_rows
    return counts
