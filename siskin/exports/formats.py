"""Encoding an Arrow table as one export file: Parquet, CSV (flat text) or VOTable (astropy)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EXTENSIONS = {"parquet": "parquet", "csv": "csv", "votable": "vot"}


def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t)


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def _json_text(column: pa.ChunkedArray) -> pa.Array:
    """Nested values as JSON text (a Python pass: only nested columns pay it)."""
    return pa.array(
        [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string()
    )


def _base64_text(column: pa.ChunkedArray) -> pa.Array:
    return pa.array(
        [None if v is None else base64.b64encode(v).decode() for v in column.to_pylist()], pa.string()
    )


def flat(table: pa.Table) -> pa.Table:
    """Every column with a text form: nested values as JSON, binary as base64, timestamps as ISO text."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if _is_nested(field.type):
            columns.append(_json_text(column))
        elif _is_binary(field.type):
            columns.append(_base64_text(column))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def to_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def to_csv(table: pa.Table) -> bytes:
    import pyarrow.csv as pcsv

    sink = pa.BufferOutputStream()
    pcsv.write_csv(flat(table), sink)
    return sink.getvalue().to_pybytes()


def _masked(column: pa.ChunkedArray) -> Any:
    """A column as numpy data astropy writes to VOTable: numbers and booleans masked where null, text as
    Python strings (variable length, no fixed-width padding) with null written as an empty cell."""
    t = column.type
    if pa.types.is_timestamp(t):
        text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S.%f")
        return text.fill_null("").to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column.fill_null("").to_numpy(zero_copy_only=False)
    mask = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(t):
        values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        values = column.fill_null(pa.scalar(0, t)).to_numpy(zero_copy_only=False)
    else:
        return column.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)
    return np.ma.masked_array(values, mask=mask)


def to_votable(table: pa.Table) -> bytes:
    from astropy.io.votable import from_table
    from astropy.table import Column, MaskedColumn, Table

    text = flat(table)
    out = Table()
    for name, column in zip(text.column_names, text.columns, strict=True):
        values = _masked(column)
        out[name] = (
            MaskedColumn(values, name=name) if np.ma.isMaskedArray(values) else Column(values, name=name)
        )
    if not text.column_names:
        out = Table()
    buffer = io.BytesIO()
    from_table(out).to_xml(buffer)
    return buffer.getvalue()


def encode(table: pa.Table, fmt: str) -> bytes:
    """The file's bytes in `fmt` (parquet, csv, votable)."""
    if fmt == "parquet":
        return to_parquet(table)
    if fmt == "csv":
        return to_csv(table)
    if fmt == "votable":
        return to_votable(table)
    raise ValueError(f"unknown export format {fmt!r}")
