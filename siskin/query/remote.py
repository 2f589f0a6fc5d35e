"""`siskin sql` through the running SQL endpoint: the query is sent as written (Spark SQL, `silver.alerts`
names resolve in the endpoint's catalog) and the result comes back over the HiveServer2 protocol.

Results arrive as rows (PyHive); nested values (arrays, structs, maps) arrive as JSON text, which is how
the HiveServer2 protocol carries them. They are written as a preview table, CSV, JSON lines or Parquet.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from siskin.config import Settings
from siskin.errors import QueryError
from siskin.query.endpoint import Endpoint, connect
from siskin.query.export import unique_names
from siskin.query.sql import USER_SQLSTATE_CLASSES


def query_error(exc: Exception) -> Exception:
    """A PyHive error caused by the query as a one-line QueryError; other errors as they are."""
    response = exc.args[0] if exc.args else None
    status = getattr(response, "status", None)
    message = str(getattr(status, "errorMessage", "") or "")
    state = str(getattr(status, "sqlState", "") or "")
    if not message:
        return exc
    match = re.search(r"SQLSTATE: (\w+)", message)
    state = match.group(1) if match else state
    if not state.startswith(USER_SQLSTATE_CLASSES):
        return exc
    first = message.replace("Error running query: ", "").strip().splitlines()[0]
    first = re.sub(r"\s*SQLSTATE: \w+[.;]?", "", re.sub(r"^org\.apache\.[\w.$]+: ", "", first)).strip()
    return QueryError(first)


def run_remote(settings: Settings, endpoint: Endpoint, sql: str) -> pa.Table:
    """The query's whole result from the endpoint, as an Arrow table (column names made unique)."""
    from pyhive import exc as hive_exc  # type: ignore[import-untyped]

    connection = connect(settings, endpoint)
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchall() if cursor.description else []
        except hive_exc.Error as exc:
            raise query_error(exc) from exc
        names = unique_names([str(d[0]).split(".")[-1] for d in cursor.description or []])
    finally:
        connection.close()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({name: pa.array(list(values)) for name, values in zip(names, columns, strict=True)})


def format_arrow(table: pa.Table, limit: int) -> str:
    """A plain-text preview of the first `limit` rows."""
    shown = table.slice(0, limit).to_pylist()
    names = table.column_names
    cells = [[("NULL" if row[n] is None else str(row[n])) for n in names] for row in shown]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "|" + "|".join(f" {n:<{w}} " for n, w in zip(names, widths, strict=True)) + "|", line]
    out += ["|" + "|".join(f" {c:<{w}} " for c, w in zip(row, widths, strict=True)) + "|" for row in cells]
    out.append(line)
    if table.num_rows > limit:
        out.append(f"only showing top {limit} rows")
    return "\n".join(out)


def export_arrow(table: pa.Table, fmt: str, out: Path | None, stdout: IO[bytes] | None = None) -> int:
    """CSV, JSON lines (to `out` or standard output) or Parquet (to `out`); rows written."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        assert out is not None
        pq.write_table(table, out)
        return table.num_rows
    if fmt == "csv":
        sink = pa.BufferOutputStream()
        pcsv.write_csv(table, sink)
        data = sink.getvalue().to_pybytes()
    else:
        data = "".join(json.dumps(row, default=str) + "\n" for row in table.to_pylist()).encode()
    if out is not None:
        out.write_bytes(data)
    else:
        stream: Any = stdout or sys.stdout.buffer
        stream.write(data)
        stream.flush()
    return table.num_rows
