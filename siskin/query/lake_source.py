"""One batch Python data source per lake table (`siskin_lake_silver__alerts`), its Delta path built in.

The SQL endpoint declares each lake table in its catalog as `CREATE TABLE silver.alerts USING
siskin_lake_silver__alerts`: a persistent table over a Python data source keeps no OPTIONS, so the path
lives in the data source class itself. Each query plans afresh: `partitions()` opens the table's latest
Delta version and lists its live data files, so a query sees every commit made before it started and
never a file that compaction removed or a stage wrote but has not committed.

Pushed filters (`spark.sql.python.filterPushdown.enabled`) prune files by partition values and by the
min/max statistics in the Delta log, and row groups by Parquet statistics; Spark re-checks every filter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource,
    DataSourceReader,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    InputPartition,
    LessThan,
    LessThanOrEqual,
)
from pyspark.sql.types import StructType

# Files per Spark task: few tasks (planning and Python workers cost more than reading small files).
FILES_PER_PARTITION = 64
MAX_PARTITIONS = 8


def source_name(table: str) -> str:
    """`silver.alerts` -> `siskin_lake_silver__alerts` (the data source's short name)."""
    return "siskin_lake_" + table.replace(".", "__")


@dataclass(frozen=True)
class Bound:
    """A pushed comparison on one top-level column: `op` is one of = in < <= > >=."""

    column: str
    op: str
    value: Any


_OPS = {EqualTo: "=", LessThan: "<", LessThanOrEqual: "<=", GreaterThan: ">", GreaterThanOrEqual: ">="}


def to_bound(flt: Filter) -> Bound | None:
    """A Spark filter Siskin can use for pruning, or None."""
    attribute: tuple[str, ...] = tuple(getattr(flt, "attribute", ()))
    value: Any = getattr(flt, "value", None)
    if len(attribute) != 1:
        return None
    if isinstance(flt, In):
        return Bound(attribute[0], "in", tuple(value))
    op = _OPS.get(type(flt))
    return None if op is None else Bound(attribute[0], op, value)


def _may_match(bound: Bound, low: Any, high: Any) -> bool:
    """Whether values in [low, high] (None: unknown) can satisfy the bound."""
    if low is None or high is None:
        return True
    try:
        if bound.op == "=":
            return bool(low <= bound.value <= high)
        if bound.op == "in":
            return any(low <= v <= high for v in bound.value if v is not None)
        if bound.op in ("<", "<="):
            return bool(low < bound.value or (bound.op == "<=" and low == bound.value))
        return bool(high > bound.value or (bound.op == ">=" and high == bound.value))
    except TypeError:  # incomparable types (a timestamp bound against string stats): keep the file
        return True


def _cast_partition(raw: Any, kind: pa.DataType) -> Any:
    if raw is None or not isinstance(raw, str):
        return raw
    return pa.array([raw], pa.string()).cast(kind)[0].as_py()


@dataclass(frozen=True)
class FileGroup(InputPartition):
    """Data files (relative paths with their partition values) one task reads."""

    files: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", None)


def live_files(uri: str, schema: pa.Schema, bounds: Sequence[Bound]) -> list[tuple[str, dict[str, Any]]]:
    """The latest version's data files that may hold rows satisfying every bound."""
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return []
    actions = pa.table(table.get_add_actions(flatten=True))
    columns = set(actions.column_names)
    paths = actions.column("path").to_pylist()
    keep = [True] * len(paths)
    for bound in bounds:
        part, low, high = f"partition.{bound.column}", f"min.{bound.column}", f"max.{bound.column}"
        if part in columns:
            kind = schema.field(bound.column).type if bound.column in schema.names else pa.string()
            values = [_cast_partition(v, kind) for v in actions.column(part).to_pylist()]
            lows = highs = values
        elif low in columns and high in columns:
            lows, highs = actions.column(low).to_pylist(), actions.column(high).to_pylist()
        else:
            continue
        keep = [k and _may_match(bound, lo, hi) for k, lo, hi in zip(keep, lows, highs, strict=True)]
    part_cols = [c for c in actions.column_names if c.startswith("partition.")]
    part_values = {c[len("partition.") :]: actions.column(c).to_pylist() for c in part_cols}
    return [
        (path, {name: values[i] for name, values in part_values.items()})
        for i, path in enumerate(paths)
        if keep[i]
    ]


def _arrow_filter(bounds: Sequence[Bound], names: Sequence[str]) -> Any:
    """The bounds as a pyarrow expression over the file's columns (row-group pruning), or None."""
    import pyarrow.compute as pc

    expr = None
    for b in bounds:
        if b.column not in names:
            continue
        field = pc.field(b.column)
        term = {
            "=": lambda f, v: f == v,
            "<": lambda f, v: f < v,
            "<=": lambda f, v: f <= v,
            ">": lambda f, v: f > v,
            ">=": lambda f, v: f >= v,
            "in": lambda f, v: f.isin(list(v)),
        }[b.op](field, b.value)
        expr = term if expr is None else expr & term
    return expr


def read_group(
    uri: str, schema: pa.Schema, group: FileGroup, bounds: Sequence[Bound]
) -> Iterator[pa.RecordBatch]:
    """The rows of a group's files in `schema` (columns a file lacks are null), pruned by the bounds."""
    import pyarrow.parquet as pq

    from siskin.lake.parquet_files import filesystem_for

    fs, root = filesystem_for(uri)
    for path, partition in group.files:
        values = dict(partition)
        where = f"{root}/{path}"
        names = pq.read_schema(where, filesystem=fs).names
        data = pq.read_table(where, filesystem=fs, filters=_arrow_filter(bounds, names), use_threads=False)
        if data.num_rows == 0:
            continue
        arrays = []
        for field in schema:
            if field.name in values:
                column = pa.array([values[field.name]] * data.num_rows).cast(field.type)
            elif field.name in data.column_names:
                column = data.column(field.name).cast(field.type)
            else:
                column = pa.nulls(data.num_rows, field.type)
            arrays.append(column)
        yield from pa.Table.from_arrays(arrays, schema=schema).to_batches(max_chunksize=10_000)


class LakeTableReader(DataSourceReader):
    """Plans over the latest Delta version at every query; reads Parquet with pyarrow in the tasks."""

    def __init__(self, uri: str, schema: pa.Schema) -> None:
        self.uri = uri
        self.arrow_schema = schema
        self.bounds: list[Bound] = []

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:  # noqa: N802
        for flt in filters:
            bound = to_bound(flt)
            if bound is not None:
                self.bounds.append(bound)
            yield flt  # Spark re-checks every filter: pruning is by files and row groups only

    def partitions(self) -> Sequence[InputPartition]:
        files = live_files(self.uri, self.arrow_schema, self.bounds)
        if not files:
            return [FileGroup(())]
        n = min(MAX_PARTITIONS, max(1, -(-len(files) // FILES_PER_PARTITION)))
        groups: list[list[tuple[str, tuple[tuple[str, Any], ...]]]] = [[] for _ in range(n)]
        for i, (path, values) in enumerate(files):
            groups[i % n].append((path, tuple(sorted(values.items()))))
        return [FileGroup(tuple(g)) for g in groups]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        assert isinstance(partition, FileGroup)
        yield from read_group(self.uri, self.arrow_schema, partition, self.bounds)


def make_source(table: str, uri: str, schema: pa.Schema) -> type[DataSource]:
    """A data source class reading one Delta table, its path and schema built in (no options needed)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    spark_schema = from_arrow_schema(schema)
    short = source_name(table)

    class LakeTable(DataSource):
        @classmethod
        def name(cls) -> str:
            return short

        def schema(self) -> StructType:
            return spark_schema

        def reader(self, schema: StructType) -> DataSourceReader:
            return LakeTableReader(uri, arrow_schema)

    arrow_schema = schema
    LakeTable.__name__ = LakeTable.__qualname__ = f"LakeTable_{table.replace('.', '__')}"
    return LakeTable
