"""SQL over the lake: tables by layer name (`silver.alerts`), printed or written to a file.

Each Delta table's current snapshot is registered as a temporary view (`silver__alerts`), and
layer-qualified names in the query are mapped to those views, so users write `silver.alerts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from siskin.errors import ConfigurationError, QueryError
from siskin.lake.catalog import tables, views
from siskin.lake.engine import DeltaEngine


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
    """The query's result as a DataFrame, over the lake's current snapshot.

    A query Spark cannot parse or analyse raises a one-line QueryError (see `query_errors`).
    """
    names = register_views(spark, engine, lake_uri)
    if not names:
        raise ConfigurationError(f"no lake tables under {lake_uri}: ingest something first (see README)")
    with query_errors(names):
        return spark.sql(rewrite(sql, names + [v.name for v in views()]))


# SQLSTATE classes (ANSI SQL) of errors the query itself causes: feature not supported, cardinality
# violation (a scalar subquery with several rows), data exception (bad cast, division by zero),
# integrity constraint, syntax error or access rule violation (unknown table or column).
USER_SQLSTATE_CLASSES = ("0A", "21", "22", "23", "42")


@contextmanager
def query_errors(names: Sequence[str] = ()) -> Iterator[None]:
    """Spark errors caused by the query as written become a one-line QueryError; others propagate.

    Wrap both the planning (`run_sql`) and the execution (collecting or writing the result): Spark
    reports bad casts, division by zero or a scalar subquery with several rows only when it computes
    the rows, sometimes as a raw Java error whose cause carries the SQLSTATE.
    """
    from py4j.protocol import Py4JJavaError

    try:
        yield
    except (PySparkException, Py4JJavaError) as exc:
        cause = spark_error(exc)
        if cause is None or not cause.sql_state.startswith(USER_SQLSTATE_CLASSES):
            raise
        raise QueryError(describe_error(cause, names)) from exc


@dataclass(frozen=True)
class SparkError:
    """What Spark says about a failed query: SQLSTATE, error condition and message."""

    sql_state: str
    condition: str | None
    message: str


def spark_error(exc: Exception) -> SparkError | None:
    """The Spark error (with a SQLSTATE) behind an exception: itself, or the first Java cause that has one."""
    from py4j.java_gateway import is_instance_of
    from py4j.protocol import Py4JJavaError
    from pyspark import SparkContext

    if isinstance(exc, PySparkException):
        return SparkError(exc.getSqlState() or "", exc.getCondition(), str(exc))
    if not isinstance(exc, Py4JJavaError) or SparkContext._gateway is None:
        return None
    throwable = exc.java_exception
    for _ in range(20):  # cause chains are short; never loop on a cyclic one
        if throwable is None:
            return None
        if is_instance_of(SparkContext._gateway, throwable, "org.apache.spark.SparkThrowable"):
            state = throwable.getSqlState()
            if state:
                return SparkError(str(state), throwable.getCondition(), str(throwable.getMessage()))
        throwable = throwable.getCause()
    return None


def silence_query_error_logs() -> None:
    """PySpark logs every query error as JSON on stderr before raising it; the CLI reports it once, itself."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL + 1)


_POSITION = re.compile(r"[(;]?\s*\(?line (\d+),? (pos|position) (\d+)\)?;?")


def describe_error(error: SparkError, names: Sequence[str] = ()) -> str:
    """Spark's error message on one line, in the user's table names, with where it is in the query."""
    text = error.message.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else error.condition or f"SQLSTATE {error.sql_state}"
    first = re.sub(r"\s*SQLSTATE: \w+[.;]?", "", first)
    where = _POSITION.search(text)
    first = _POSITION.sub("", first).strip().rstrip(";").strip()
    if where:
        # "pos N" (analysis and parse errors) counts from 0, "position N" (runtime errors) from 1
        column = int(where.group(3)) + (1 if where.group(2) == "pos" else 0)
        first = f"{first} (line {where.group(1)}, column {column})"
    for name in sorted(names, key=len, reverse=True):
        first = first.replace(f"`{view_name(name)}`", f"`{name}`").replace(view_name(name), name)
    if error.condition == "TABLE_OR_VIEW_NOT_FOUND" and names:
        first = f"{first} Lake tables: {', '.join(names)}."
    return first
