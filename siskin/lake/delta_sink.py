"""Delta sink as a PySpark Python data source (`format("siskin_delta")`), engine delta-rs.

Generic exactly-once Delta writes for ad-hoc jobs (`DeltaRsEngine.append` / `write_stream`), held to the
engine contract by `tests/lake/test_delta_contract.py`. The pipeline's stages do not use it: they write their
files in Spark tasks and commit them themselves (`siskin.lake.task_writer`, `siskin.pipeline.stage`).

Executors write Parquet files (Arrow batches in, no per-row Python); the driver commits all of a
micro-batch's files in one Delta transaction tagged with an app transaction, so a batch Spark
replays after a crash is skipped instead of written twice.

Options: `path` (required), `partitionBy` (comma-separated), `appId` (streaming: unique per
checkpoint), `txnAppId` + `txnVersion` (batch writes inside `foreachBatch`), `targetFileRows`,
`metadata.<key>` (commit metadata).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceStreamArrowWriter,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

from siskin.errors import ConfigurationError


@dataclass
class FilesWritten(WriterCommitMessage):
    """What one task wrote: the files to add, as plain dicts."""

    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SinkOptions:
    """The sink's options, parsed once on the driver."""

    path: str
    partition_by: tuple[str, ...]
    target_rows: int
    app_id: str | None
    version: int | None
    metadata: dict[str, str]

    @classmethod
    def parse(cls, raw: dict[str, str]) -> SinkOptions:
        options = {k.lower(): v for k, v in raw.items()}  # Spark lowercases option keys
        path = options.get("path")
        if not path:
            raise ConfigurationError("siskin_delta needs option 'path' (the Delta table location)")
        parts = tuple(p.strip() for p in options.get("partitionby", "").split(",") if p.strip())
        version = options.get("txnversion")
        return cls(
            path=path,
            partition_by=parts,
            target_rows=int(options.get("targetfilerows", "20000")),
            app_id=options.get("appid") or options.get("txnappid"),
            version=int(version) if version is not None else None,
            metadata={k[len("metadata.") :]: v for k, v in options.items() if k.startswith("metadata.")},
        )


def _write_task(batches: Iterator[pa.RecordBatch], opts: SinkOptions) -> FilesWritten:
    from siskin.lake.parquet_files import write_data_files

    batch_list = [b for b in batches if b.num_rows]
    if not batch_list:
        return FilesWritten([])
    table = pa.Table.from_batches(batch_list)
    adds = write_data_files(table, opts.path, opts.partition_by, target_rows=opts.target_rows)
    return FilesWritten([a.to_dict() for a in adds])


def _commit(
    messages: list[WriterCommitMessage | None], opts: SinkOptions, schema: StructType, version: int | None
) -> None:
    from pyspark.sql.pandas.types import to_arrow_schema

    from siskin.lake.transactions import commit_files

    files = [f for m in messages if isinstance(m, FilesWritten) for f in m.files]
    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    commit_files(
        opts.path,
        files,
        arrow_schema,
        opts.partition_by,
        app_id=opts.app_id,
        version=version,
        metadata=opts.metadata,
    )


class DeltaBatchWriter(DataSourceArrowWriter):
    """Batch append; idempotent when `txnAppId`/`txnVersion` are given (foreachBatch)."""

    def __init__(self, options: dict[str, str], schema: StructType) -> None:
        self.opts = SinkOptions.parse(options)
        self.schema = schema

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FilesWritten:
        return _write_task(iterator, self.opts)

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        _commit(messages, self.opts, self.schema, self.opts.version)


class DeltaStreamWriter(DataSourceStreamArrowWriter):
    """Streaming append: one Delta commit per micro-batch, app transaction (appId, batchId)."""

    def __init__(self, options: dict[str, str], schema: StructType) -> None:
        self.opts = SinkOptions.parse(options)
        if not self.opts.app_id:
            raise ConfigurationError(
                "a streaming siskin_delta sink needs option 'appId' (unique per checkpoint)"
            )
        self.schema = schema

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FilesWritten:
        return _write_task(iterator, self.opts)

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        _commit(messages, self.opts, self.schema, batchId)

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        """Uncommitted files stay orphaned until a vacuum; they are never visible to readers."""


class DeltaSinkDataSource(DataSource):
    """`df.write.format("siskin_delta")` / `writeStream.format("siskin_delta")`."""

    @classmethod
    def name(cls) -> str:
        return "siskin_delta"

    def writer(self, schema: StructType, overwrite: bool) -> DeltaBatchWriter:
        if overwrite:
            raise ConfigurationError("siskin_delta appends only; replay deletes partitions first")
        return DeltaBatchWriter(dict(self.options), schema)

    def streamWriter(self, schema: StructType, overwrite: bool) -> DeltaStreamWriter:  # noqa: N802
        return DeltaStreamWriter(dict(self.options), schema)
