"""One small reader per catalog file format, each returning the file's table as Arrow, columns as named.

Coordinates are not interpreted here (that is `catalogs.normalise`); readers only get rows and names
out of the file: Parquet, CSV/TSV (padded headers, quoted strings), FITS binary tables, SQLite.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siskin.errors import ConfigurationError

PARQUET = (".parquet", ".pq")
FITS = (".fits", ".fit", ".fits.gz", ".fts")
SQLITE = (".db", ".sqlite", ".sqlite3")


def file_format(path: Path) -> str:
    """The reader a file needs, by its name (anything else is read as delimited text)."""
    name = path.name.lower()
    if name.endswith(PARQUET):
        return "parquet"
    if name.endswith(FITS):
        return "fits"
    if name.endswith(SQLITE):
        return "sqlite"
    return "csv"


def read_parquet(path: Path) -> pa.Table:
    """A Parquet file; pandas' saved index column is dropped."""
    table = pq.read_table(path)
    return table.drop_columns([n for n in table.column_names if n.startswith("__index_level_")])


def _typed(values: list[str]) -> pa.Array:
    """A text column as float64 when every non-empty cell is a number, else as stripped strings."""
    text = pa.array([v if v != "" else None for v in values], pa.string())
    try:
        return pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text


def read_csv(path: Path) -> pa.Table:
    """Delimited text with a header row: delimiter sniffed, headers and cells stripped, quotes removed."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        sample = handle.read(65536)
        handle.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
        except csv.Error as exc:
            raise ConfigurationError(f"{path}: not a delimited table with a header ({exc})") from exc
        rows = [
            [cell.strip().strip('"').strip() for cell in row]
            for row in csv.reader(handle, dialect, skipinitialspace=True)
            if any(cell.strip() for cell in row)
        ]
    if len(rows) < 2:
        raise ConfigurationError(f"{path}: no data rows below a header")
    header, body = rows[0], rows[1:]
    width = len(header)
    if not all(header) or len(set(header)) != width:
        raise ConfigurationError(f"{path}: header has empty or repeated column names: {header}")
    bad = sum(len(r) != width for r in body)
    if bad:
        raise ConfigurationError(f"{path}: {bad} rows do not have the header's {width} columns")
    columns = list(zip(*body, strict=True))
    return pa.table({name: _typed(list(col)) for name, col in zip(header, columns, strict=True)})


def read_fits(path: Path, hdu: int = 1) -> pa.Table:
    """A FITS binary table (first extension by default); vector-valued columns are left out."""
    from astropy.table import Table

    try:
        table = Table.read(path, hdu=hdu, format="fits")
    except Exception as exc:  # astropy raises many types for a bad file
        raise ConfigurationError(f"{path}: cannot read a FITS table from HDU {hdu}: {exc}") from exc
    out: dict[str, pa.Array] = {}
    for name in table.colnames:
        col = np.asarray(table[name])
        if col.ndim != 1:
            continue
        if col.dtype.kind in "SU":
            out[name] = pa.array(np.char.strip(col.astype(str)).tolist(), pa.string())
        else:
            out[name] = pa.array(col.astype(col.dtype.newbyteorder("=")))
    return pa.table(out)


def read_sqlite(path: Path, table: str | None = None) -> pa.Table:
    """One table of an SQLite database: `table`, else the only table with coordinate-like columns."""
    from siskin.science.xmatch.catalogs import find_column

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if table is None:
            with_coords = []
            for name in names:
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
                if find_column(cols, "ra") and find_column(cols, "dec"):
                    with_coords.append(name)
            if len(with_coords) != 1:
                raise ConfigurationError(
                    f"{path}: say which table to load (tables with coordinates: {with_coords or names})"
                )
            table = with_coords[0]
        elif table not in names:
            raise ConfigurationError(f"{path}: no table {table!r} (tables: {names})")
        cursor = con.execute(f'SELECT * FROM "{table}"')
        header = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    return pa.table({name: _sql_column(list(col)) for name, col in zip(header, columns, strict=True)})


def _sql_column(values: list[object]) -> pa.Array:
    """An SQLite column (its cells may mix types) as Arrow, as text when the types do not agree."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def read_any(path: Path, *, sqlite_table: str | None = None) -> tuple[str, pa.Table]:
    """(format, table) for a catalog file."""
    kind = file_format(path)
    if kind == "parquet":
        return kind, read_parquet(path)
    if kind == "fits":
        return kind, read_fits(path)
    if kind == "sqlite":
        return kind, read_sqlite(path, sqlite_table)
    return kind, read_csv(path)
