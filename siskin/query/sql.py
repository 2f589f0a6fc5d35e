"""SQL over the lake: tables by layer name (`silver.alerts`), printed or written to a file.

Each Delta table's current snapshot is registered as a temporary view (`silver__alerts`), and
layer-qualified names in the query are mapped to those views, so users write `silver.alerts`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pyspark.sql import DataFrame, SparkSession

from siskin.errors import ConfigurationError
from siskin.lake.catalog import tables, views
from siskin.lake.engine import DeltaEngine

OutputFormat = Literal["table", "csv", "json", "parquet"]


def view_name(table: str) -> str:
    """`silver.alerts` -> `silver__alerts`."""
    return table.replace(".", "__")


def register_views(spark: SparkSession, engine: DeltaEngine, lake_uri: str) -> list[str]:
    """Register every existing table (and the derived views) as temporary views."""
    from siskin.lake.transactions import open_table

    registered = []
    for spec in tables():
        uri = spec.path(lake_uri)
        if open_table(uri) is None:
            continue
        engine.read(spark, uri).createOrReplaceTempView(view_name(spec.name))
        registered.append(spec.name)
    for view in views():
        if all(name in registered for name in view.needs):
            spark.sql(view.text()).createOrReplaceTempView(view_name(view.name))
            registered.append(view.name)
    return registered


def rewrite(sql: str, names: list[str]) -> str:
    """Map `layer.table` references (outside string literals) to their view names."""
    known = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    if not known:
        return sql
    pattern = re.compile(r"('(?:[^']|'')*')|`?\b(" + known + r")\b`?")
    return pattern.sub(lambda m: m.group(1) or view_name(m.group(2)), sql)


def run_sql(spark: SparkSession, engine: DeltaEngine, lake_uri: str, sql: str) -> DataFrame:
    """The query's result as a DataFrame, over the lake's current snapshot."""
    names = register_views(spark, engine, lake_uri)
    if not names:
        raise ConfigurationError(f"no lake tables under {lake_uri}: ingest something first (see README)")
    return spark.sql(rewrite(sql, names + [v.name for v in views()]))


def write_result(df: DataFrame, fmt: OutputFormat, out: Path | None, limit: int) -> str | None:
    """Print (table) or write (csv/json/parquet) a result; returns the text printed, if any."""
    if fmt == "table":
        import pandas as pd

        rows: pd.DataFrame = df.limit(limit).toPandas()

        with pd.option_context("display.max_columns", 50, "display.width", 200, "display.max_colwidth", 40):
            return rows.to_string(index=False) if len(rows) else "(no rows)"
    if out is None:
        raise ConfigurationError(f"--format {fmt} needs --out FILE")
    table = df.toArrow()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, out)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        flat = table.select(
            [
                c
                for c, t in zip(table.column_names, table.schema.types, strict=True)
                if not (hasattr(t, "value_type") or str(t).startswith(("struct", "binary")))
            ]
        )
        pcsv.write_csv(flat, out)
    elif fmt == "json":
        frame = table.to_pandas()
        frame.to_json(out, orient="records", lines=True, date_format="iso", default_handler=str)
    return None
