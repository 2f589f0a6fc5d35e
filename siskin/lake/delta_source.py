"""Streaming source over a Delta table (`readStream.format("siskin_delta_stream")`), engine delta-rs.

Offsets are table versions: a micro-batch covers the data files added by commits in
(start, end]. Files added without data change (compaction by `siskin maintain`) are skipped, as are
commits tagged `siskin.replay` when `skipReplay` is set, so downstream aggregates never count a row twice.
The reader keeps the table open and learns of new versions incrementally (only the commits added since
its last look are read), so a trigger's cost does not grow with the table's history.

Options: `path` (required), `maxFilesPerTrigger` (default 1000), `startingVersion` (default: the
first commit), `skipReplay` ("true"/"false"), `rowsPerPartition`, `filesOnly` ("true": emit one row
per data file (`FILE_REF_SCHEMA`) instead of its rows, for stages that read the files in their own
tasks so large payloads never travel through the JVM).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxFiles,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from siskin.errors import ConfigurationError, LakeError


@dataclass(frozen=True)
class DataFile:
    """A data file to read and its partition values (strings, as in the Delta log)."""

    path: str
    partition_values: dict[str, str | None]
    rows: int | None


FILE_REF_SCHEMA = "path string, partition_values string, rows long"


def file_refs_batch(files: list[DataFile]) -> pa.RecordBatch:
    """File references as one Arrow batch in `FILE_REF_SCHEMA`."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array([f.path for f in files], pa.string()),
            pa.array([json.dumps(f.partition_values) for f in files], pa.string()),
            pa.array([f.rows for f in files], pa.int64()),
        ],
        names=["path", "partition_values", "rows"],
    )


def read_file_refs(
    table_uri: str, refs: pa.Table, *, columns: list[str] | None = None, batch_rows: int = 2000
) -> Iterator[pa.Table]:
    """Read the data files named by a `FILE_REF_SCHEMA` table, partition columns restored, in chunks."""
    import pyarrow.parquet as pq

    from siskin.lake.parquet_files import filesystem_for

    fs, root = filesystem_for(table_uri)
    for path, pvals in zip(
        refs.column("path").to_pylist(), refs.column("partition_values").to_pylist(), strict=True
    ):
        values = json.loads(pvals) if pvals else {}
        with fs.open_input_file(f"{root}/{path}") as handle:
            parquet = pq.ParquetFile(handle)
            # a column the file predates (a science module added later) is left out, not an error
            present = set(parquet.schema_arrow.names)
            wanted = None if columns is None else [c for c in columns if c not in values and c in present]
            # one thread: Spark already runs one task per core
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted, use_threads=False):
                table = pa.Table.from_batches([batch])
                for col, raw in values.items():
                    if columns is not None and col not in columns:
                        continue
                    table = table.append_column(col, pa.array([raw] * table.num_rows, pa.string()))
                yield table


class FilesPartition(InputPartition):
    """A group of data files one Spark task reads."""

    def __init__(self, files: list[DataFile]) -> None:
        super().__init__(None)
        self.files = files


def _log_path(table_uri: str, version: int) -> str:
    return f"{table_uri.rstrip('/')}/_delta_log/{version:020d}.json"


def read_commit(table_uri: str, version: int) -> list[dict[str, Any]]:
    """The actions of one commit, straight from its JSON log file."""
    from siskin.lake.parquet_files import filesystem_for

    fs, path = filesystem_for(_log_path(table_uri, version))
    try:
        with fs.open_input_stream(path) as stream:
            text = stream.read().decode()
    except FileNotFoundError as exc:
        raise LakeError(
            f"Delta log entry {version} of {table_uri} is missing (cleaned up?): restart the query "
            "with a new checkpoint or a later startingVersion"
        ) from exc
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def data_files_of(actions: list[dict[str, Any]], skip_replay: bool) -> list[DataFile]:
    """The new data of a commit: `add` actions with dataChange, unless it is a skipped replay."""
    if skip_replay:
        for act in actions:
            info = act.get("commitInfo")
            if info and str(info.get("siskin.replay", info.get("userMetadata", ""))).lower() == "true":
                return []
    files = []
    for act in actions:
        add = act.get("add")
        if add and add.get("dataChange", True):
            rows = None
            if add.get("stats"):
                rows = json.loads(add["stats"]).get("numRecords")
            files.append(DataFile(add["path"], add.get("partitionValues") or {}, rows))
    return files


class DeltaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Reads the data files that commits added, version after version."""

    def __init__(self, raw: dict[str, str], schema: StructType) -> None:
        options = {k.lower(): v for k, v in raw.items()}  # Spark lowercases option keys
        path = options.get("path")
        if not path:
            raise ConfigurationError("siskin_delta_stream needs option 'path'")
        self.path = path
        self.schema = schema
        self.max_files = int(options.get("maxfilespertrigger", "1000"))
        self.starting = int(options.get("startingversion", "0"))
        self.skip_replay = options.get("skipreplay", "false").lower() == "true"
        self.rows_per_partition = int(options.get("rowsperpartition", "5000"))
        self.files_only = options.get("filesonly", "false").lower() == "true"
        self._available_now_end: int | None = None
        self._files_cache: dict[int, list[DataFile]] = {}
        self._table: Any = None  # the open DeltaTable (driver side only; never pickled to tasks)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_table"] = None
        state["_files_cache"] = {}
        return state

    def _latest_version(self) -> int:
        """The table's latest version: a full load once, then only the new commits."""
        from deltalake import DeltaTable

        if self._table is None:
            self._table = DeltaTable(self.path)
        else:
            self._table.update_incremental()
        return int(self._table.version())

    def _files(self, version: int) -> list[DataFile]:
        if version not in self._files_cache:
            self._files_cache[version] = data_files_of(read_commit(self.path, version), self.skip_replay)
        return self._files_cache[version]

    def initialOffset(self) -> dict:  # noqa: N802
        return {"version": self.starting - 1}

    def getDefaultReadLimit(self) -> ReadLimit:  # noqa: N802
        return ReadMaxFiles(self.max_files)

    def prepareForTriggerAvailableNow(self) -> None:  # noqa: N802
        self._available_now_end = self._latest_version()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:  # noqa: N802
        latest = self._latest_version() if self._available_now_end is None else self._available_now_end
        begin = int(start["version"])
        if isinstance(limit, ReadAllAvailable) or begin >= latest:
            return {"version": max(begin, latest)}
        budget = limit.max_files if isinstance(limit, ReadMaxFiles) else self.max_files
        end, taken = begin, 0
        while end < latest:
            n = len(self._files(end + 1))
            if taken and taken + n > budget:
                break
            end, taken = end + 1, taken + n
        return {"version": end}

    def reportLatestOffset(self) -> dict:  # noqa: N802
        return {"version": self._latest_version()}

    def partitions(self, start: dict, end: dict) -> list[FilesPartition]:
        files: list[DataFile] = []
        for version in range(int(start["version"]) + 1, int(end["version"]) + 1):
            files.extend(self._files(version))
        groups: list[list[DataFile]] = []
        current: list[DataFile] = []
        rows = 0
        for f in files:
            current.append(f)
            rows += f.rows or self.rows_per_partition
            if rows >= self.rows_per_partition:
                groups.append(current)
                current, rows = [], 0
        if current:
            groups.append(current)
        return [FilesPartition(g) for g in groups]

    def read(self, partition: FilesPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        if self.files_only:
            yield file_refs_batch(partition.files)
        else:
            yield from read_files(self.path, partition.files, self.schema)

    def commit(self, end: dict) -> None:
        done = int(end["version"])
        for version in [v for v in self._files_cache if v <= done]:
            del self._files_cache[version]


def read_files(table_uri: str, files: list[DataFile], schema: StructType) -> Iterator[pa.RecordBatch]:
    """Read data files as Arrow batches in the Spark schema, partition values added as columns."""
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    from siskin.lake.parquet_files import filesystem_for

    target = to_arrow_schema(schema, timezone="UTC")
    fs, root = filesystem_for(table_uri)
    for f in files:
        table = pq.read_table(f"{root}/{f.path}", filesystem=fs)
        for field in target:
            if field.name in f.partition_values and field.name not in table.column_names:
                raw = f.partition_values[field.name]
                column = (
                    pa.nulls(table.num_rows, field.type)
                    if raw is None
                    else pa.repeat(pa.scalar(raw).cast(field.type), table.num_rows)
                )
                table = table.append_column(field.name, column)
        table = table.select(target.names).cast(target)
        yield from table.to_batches(max_chunksize=2000)


class DeltaStreamDataSource(DataSource):
    """`spark.readStream.format("siskin_delta_stream").option("path", ...)`."""

    @classmethod
    def name(cls) -> str:
        return "siskin_delta_stream"

    def schema(self) -> StructType:
        from deltalake import DeltaTable
        from pyspark.sql.pandas.types import from_arrow_schema

        path = self.options.get("path")
        if not path:
            raise ConfigurationError("siskin_delta_stream needs option 'path'")
        if str(self.options.get("filesOnly", "false")).lower() == "true":
            return FILE_REF_SCHEMA  # type: ignore[return-value]
        arrow = pa.schema(DeltaTable(path).schema().to_arrow())
        return from_arrow_schema(arrow)

    def streamReader(self, schema: StructType) -> DeltaStreamReader:  # noqa: N802
        return DeltaStreamReader(dict(self.options), schema)
