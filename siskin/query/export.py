"""Query results out of Spark: a text table, or CSV / JSON lines / Parquet to a file or standard output.

Results are exported whatever their column names: repeated names (two `count(*)`, two scalar
subqueries) and empty ones are made unique first (`n`, `n_2`, ...), as a spreadsheet or a Parquet
reader needs. CSV has no nested or binary values, so structs, arrays and maps are written as JSON
text and binary values as base64, rather than dropped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BinaryType, MapType, StructType

from siskin.errors import ConfigurationError

OutputFormat = Literal["table", "csv", "json", "parquet"]
STREAMABLE: tuple[OutputFormat, ...] = ("csv", "json")


def unique_names(names: Sequence[str]) -> list[str]:
    """Column names made unique (case-insensitively, as Spark resolves them) and non-empty.

    The first of a repeated name keeps it; later ones get `_2`, `_3`, ... (skipping names the result
    already has); an empty name becomes `col<position>`.
    """
    taken = {n.lower() for n in names if n}
    used: set[str] = set()
    out = []
    for position, name in enumerate(names, start=1):
        base = name or f"col{position}"
        candidate, k = base, 1
        while candidate.lower() in used or (candidate != name and candidate.lower() in taken):
            k += 1
            candidate = f"{base}_{k}"
        used.add(candidate.lower())
        out.append(candidate)
    return out


def column(name: str) -> Column:
    """A column by its exact name, whatever characters it holds (`scalarsubquery()`, `a.b`)."""
    return F.col("`" + name.replace("`", "``") + "`")


def with_unique_names(df: DataFrame) -> DataFrame:
    """The result with unique, non-empty column names (positional rename; no-op when already unique)."""
    names = unique_names(df.columns)
    return df if names == df.columns else df.toDF(*names)


def csv_ready(df: DataFrame) -> DataFrame:
    """Nested values as JSON text and binary values as base64, so every column has a CSV form."""
    cols = []
    for field in df.schema.fields:
        col = column(field.name)
        if isinstance(field.dataType, (StructType, ArrayType, MapType)):
            col = F.to_json(col)
        elif isinstance(field.dataType, BinaryType):
            col = F.base64(col)
        cols.append(col.alias(field.name))
    return df.select(*cols)


def json_lines(df: DataFrame) -> DataFrame:
    """One JSON object per row (nulls kept, timestamps ISO 8601 in UTC), written by Spark itself."""
    row = F.struct(*[column(n) for n in df.columns])
    return df.select(F.to_json(row, {"ignoreNullFields": "false"}).alias("json"))


def format_table(df: DataFrame, limit: int) -> str:
    """The first `limit` rows as an aligned text table (or `(no rows)`)."""
    import pandas as pd

    rows: pd.DataFrame = with_unique_names(df).limit(limit).toArrow().to_pandas()
    with pd.option_context("display.max_columns", 50, "display.width", 200, "display.max_colwidth", 40):
        return rows.to_string(index=False) if len(rows) else "(no rows)"


def check_output(fmt: OutputFormat, out: Path | None) -> None:
    """Refuse an output that cannot be written before any query runs (a one-line ConfigurationError)."""
    if fmt == "table" and out is not None:
        raise ConfigurationError("--out needs --format csv, json or parquet")
    if out is None and fmt not in (*STREAMABLE, "table"):
        raise ConfigurationError(f"--format {fmt} writes a binary file: give --out FILE")
    if out is not None:
        parent = Path(out).resolve().parent
        if not parent.is_dir():
            raise ConfigurationError(f"cannot write {out}: folder {parent} does not exist")
        if Path(out).is_dir():
            raise ConfigurationError(f"cannot write {out}: it is a folder")


def export(df: DataFrame, fmt: OutputFormat, out: Path | None, stdout: IO[bytes] | None = None) -> int:
    """Write the whole result as csv/json/parquet to `out`, or csv/json to `stdout`; returns the row count."""
    check_output(fmt, out)
    if fmt == "table":
        raise ConfigurationError("--format table prints a preview: use csv, json or parquet to export")
    df = with_unique_names(df)
    if fmt == "json":
        lines = json_lines(df).toArrow().column("json")
        data = ("\n".join(lines.to_pylist()) + "\n").encode() if len(lines) else b""
        _write_bytes(data, out, stdout)
        return len(lines)
    table = (csv_ready(df) if fmt == "csv" else df).toArrow()
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        sink = pa.BufferOutputStream()
        pcsv.write_csv(table, sink)
        _write_bytes(sink.getvalue().to_pybytes(), out, stdout)
    else:
        import pyarrow.parquet as pq

        assert out is not None
        try:
            pq.write_table(table, out)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {out}: {exc}") from exc
    return table.num_rows


def _write_bytes(data: bytes, out: Path | None, stdout: IO[bytes] | None) -> None:
    if out is None:
        sink = stdout if stdout is not None else sys.stdout.buffer
        sys.stdout.flush()
        sink.write(data)
        sink.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {out}: {exc.strerror or exc}") from exc
