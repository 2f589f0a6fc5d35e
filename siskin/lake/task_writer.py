"""Transform-and-write inside Spark tasks; only file metadata comes back to the driver.

Alert payloads are large (tens of KB): moving them JVM -> Python -> JVM -> Python for every step
costs more than decoding them. So a stage's Arrow transform runs in the task that writes its
Parquet files, the task returns the `add` metadata (plus the key values each file holds, for
deduplication), and the driver commits all of a micro-batch's files in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame

from siskin.lake.parquet_files import FileAdd, write_data_files, write_data_files_with_keys
from siskin.spark.worker_heap import settle_after_task

Transform = Callable[[pa.Table], dict[str, pa.Table]]


@dataclass(frozen=True)
class Target:
    """Where one output of a transform goes."""

    uri: str
    partition_by: tuple[str, ...]
    key_column: str | None = None  # report this column's values per file (deduplication)
    compression: str | dict[str, str] = "zstd"


@dataclass(frozen=True)
class WrittenFile:
    """A file a task wrote for one target, and the key values it holds."""

    target: str
    add: FileAdd
    keys: list[int] | None


RESULT_SCHEMA = "target string, add string, keys array<long>, task int"


def _task_function(
    transform: Transform, targets: dict[str, Target], target_rows: int, batch_rows: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        task = ctx.partitionId() if ctx is not None else 0
        pending: list[pa.RecordBatch] = []
        rows = 0
        out: list[dict[str, object]] = []

        def flush() -> None:
            nonlocal pending, rows
            if not pending:
                return
            outputs = transform(pa.Table.from_batches(pending))
            pending, rows = [], 0
            for name, table in outputs.items():
                if table.num_rows == 0:
                    continue
                target = targets[name]
                files: list[tuple[FileAdd, list[int] | None]]
                if target.key_column:
                    files = write_data_files_with_keys(  # type: ignore[assignment]
                        table,
                        target.uri,
                        target.partition_by,
                        target.key_column,
                        target_rows=target_rows,
                        compression=target.compression,
                    )
                else:
                    files = [
                        (add, None)
                        for add in write_data_files(
                            table,
                            target.uri,
                            target.partition_by,
                            target_rows=target_rows,
                            compression=target.compression,
                        )
                    ]
                for add, keys in files:
                    out.append({"target": name, "add": json.dumps(add.to_dict()), "keys": keys, "task": task})

        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= batch_rows:
                flush()
        flush()
        if out:
            yield pa.RecordBatch.from_pylist(
                out,
                schema=pa.schema(
                    [
                        ("target", pa.string()),
                        ("add", pa.string()),
                        ("keys", pa.list_(pa.int64())),
                        ("task", pa.int32()),
                    ]
                ),
            )
        settle_after_task()

    return run


def write_in_tasks(
    df: DataFrame,
    transform: Transform,
    targets: dict[str, Target],
    *,
    target_rows: int = 20000,
    batch_rows: int = 2000,
) -> list[WrittenFile]:
    """Run `transform` over the DataFrame's Arrow batches in Spark tasks; write its outputs there."""
    rows = df.mapInArrow(_task_function(transform, targets, target_rows, batch_rows), RESULT_SCHEMA).collect()
    written = [WrittenFile(r["target"], FileAdd(**json.loads(r["add"])), r["keys"]) for r in rows]
    order = {id(w): (r["task"], i) for i, (w, r) in enumerate(zip(written, rows, strict=True))}
    return sorted(written, key=lambda w: order[id(w)])
