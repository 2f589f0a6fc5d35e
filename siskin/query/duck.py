"""`siskin sql --engine duckdb`: one-off queries answered by DuckDB's delta extension, no Spark, no JVM.

Every existing lake table is a DuckDB view `layer.table` over `delta_scan(<path>)` (the latest Delta
version). The query is **DuckDB SQL**, not Spark SQL: the catalog's Spark views (`gold.lightcurves`) are not
available here, and functions differ (`list` not `array`, `unnest` not `LATERAL VIEW explode`).
The extension is loaded from the `duckdb-ext-delta` wheel when installed (no download).
"""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path
from typing import Any

import pyarrow as pa

from siskin.errors import QueryError


def delta_extension() -> str:
    """The delta extension to LOAD: the wheel's file when present, else DuckDB's own name."""
    shipped = sorted(
        Path(sysconfig.get_paths()["purelib"]).glob("duckdb_ext/extensions/*/*/delta.duckdb_extension")
    )
    return f"'{shipped[-1]}'" if shipped else "delta"


def connect(lake_uri: str, sql: str | None = None) -> tuple[Any, list[str]]:
    """A DuckDB connection with the lake tables `sql` names (all when None) as views; the names declared."""
    import duckdb

    from siskin.lake.catalog import tables
    from siskin.lake.transactions import open_table

    con = duckdb.connect()
    con.execute(f"LOAD {delta_extension()}")
    declared = []
    for spec in tables():
        if sql is not None and not re.search(
            rf"\b{re.escape(spec.layer)}\s*\.\s*{re.escape(spec.short)}\b", sql
        ):
            continue  # binding a view reads the table's log: only the tables the query names
        uri = spec.path(lake_uri)
        if open_table(uri) is None:
            continue
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{spec.layer}"')
        path = uri.replace("'", "''")
        con.execute(f'CREATE VIEW "{spec.layer}"."{spec.short}" AS SELECT * FROM delta_scan(\'{path}\')')
        declared.append(spec.name)
    return con, declared


def run_duckdb(lake_uri: str, sql: str) -> pa.Table:
    """The query's result over the lake's latest versions, as Arrow; a DuckDB error is a QueryError."""
    import duckdb

    from siskin.lake.catalog import names

    con, declared = connect(lake_uri, sql)
    try:
        return con.execute(sql).fetch_arrow_table()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise QueryError(f"{first} (DuckDB SQL; lake tables: {', '.join(names())})") from exc
    finally:
        con.close()
