"""The Delta engines behind one interface: how Spark itself reads and writes Delta tables.

- `delta-rs` (default, tested in CI): Siskin's Python data sources `siskin_delta` (sink) and
  `siskin_delta_stream` (source) over the `deltalake` package; no JVM jars needed.
- `delta-spark`: Spark's own `delta` format, for clusters where the delta-spark jars resolve.

What uses an engine, and what does not:
- The pipeline's own tables do not go through it. Under either engine, stages write Parquet in Spark tasks
  and commit with delta-rs (`siskin.lake.transactions`), and stream the file references each commit adds
  with Siskin's Delta log reader (`siskin_delta_stream`, `filesOnly`), which skips replay commits. One Delta
  protocol, so a delta-spark cluster reads the same tables.
- `read` serves `siskin sql` (temporary views over each table's snapshot).
- `append`, `write_stream`, `read_stream` and `read_stream_files` are generic exactly-once Delta I/O for
  ad-hoc jobs; the contract tests (`tests/lake/test_delta_contract.py`) hold both engines to them.

The delta-spark engine's known gaps against that contract: its streaming read cannot skip commits tagged
`siskin.replay` (it uses `skipChangeCommits`, which ignores deletes and rewrites but still delivers the rows a
replay appends again), and its writes record commit metadata as one JSON `userMetadata` string. Neither
affects the pipeline, which never reads or writes through the engine.
"""

from __future__ import annotations

from typing import Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter


class DeltaEngine(Protocol):
    """How Spark reads and writes the lake's Delta tables."""

    name: str

    def available(self, spark: SparkSession) -> tuple[bool, str]:
        """Whether this engine works in this session, and why not."""
        ...

    def read_stream(
        self, spark: SparkSession, uri: str, *, max_files: int, skip_replay: bool = False
    ) -> DataFrame:
        """A streaming DataFrame of the rows each new commit adds."""
        ...

    def read_stream_files(
        self, spark: SparkSession, uri: str, *, max_files: int, skip_replay: bool = False
    ) -> DataFrame:
        """What each commit adds, as data-file references where the engine can (stages then read
        the files in their own tasks, so payloads never cross the JVM), else as rows."""
        ...

    def write_stream(
        self, df: DataFrame, uri: str, *, partition_by: tuple[str, ...], checkpoint: str, app_id: str
    ) -> DataStreamWriter:
        """A configured (not started) exactly-once streaming append."""
        ...

    def append(
        self,
        df: DataFrame,
        uri: str,
        *,
        partition_by: tuple[str, ...],
        app_id: str,
        version: int,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """An idempotent batch append: skipped when (app_id, version) is already committed."""
        ...

    def read(self, spark: SparkSession, uri: str) -> DataFrame:
        """The table's current snapshot as a batch DataFrame."""
        ...


class DeltaRsEngine:
    """Delta through Siskin's Python data sources and delta-rs."""

    name = "delta-rs"

    def available(self, spark: SparkSession) -> tuple[bool, str]:
        return True, "deltalake (delta-rs) is a Python dependency"

    def read_stream(
        self, spark: SparkSession, uri: str, *, max_files: int, skip_replay: bool = False
    ) -> DataFrame:
        return (
            spark.readStream.format("siskin_delta_stream")
            .option("path", uri)
            .option("maxFilesPerTrigger", str(max_files))
            .option("skipReplay", str(skip_replay).lower())
            .load()
        )

    def read_stream_files(
        self, spark: SparkSession, uri: str, *, max_files: int, skip_replay: bool = False
    ) -> DataFrame:
        return (
            spark.readStream.format("siskin_delta_stream")
            .option("path", uri)
            .option("filesOnly", "true")
            .option("maxFilesPerTrigger", str(max_files))
            .option("skipReplay", str(skip_replay).lower())
            .load()
        )

    def write_stream(
        self, df: DataFrame, uri: str, *, partition_by: tuple[str, ...], checkpoint: str, app_id: str
    ) -> DataStreamWriter:
        return (
            df.writeStream.format("siskin_delta")
            .option("path", uri)
            .option("partitionBy", ",".join(partition_by))
            .option("appId", app_id)
            .option("checkpointLocation", checkpoint)
            .outputMode("append")
        )

    def append(
        self,
        df: DataFrame,
        uri: str,
        *,
        partition_by: tuple[str, ...],
        app_id: str,
        version: int,
        metadata: dict[str, str] | None = None,
    ) -> None:
        writer = (
            df.write.format("siskin_delta")
            .mode("append")
            .option("path", uri)
            .option("partitionBy", ",".join(partition_by))
            .option("txnAppId", app_id)
            .option("txnVersion", str(version))
        )
        for key, value in (metadata or {}).items():
            writer = writer.option(f"metadata.{key}", value)
        writer.save()

    def read(self, spark: SparkSession, uri: str) -> DataFrame:
        from pyspark.sql.pandas.types import from_arrow_schema

        from siskin.lake.transactions import open_table

        table = open_table(uri)
        if table is None:
            raise FileNotFoundError(f"no Delta table at {uri}")
        files = table.file_uris()
        if not files:
            import pyarrow as pa

            return spark.createDataFrame([], from_arrow_schema(pa.schema(table.schema().to_arrow())))
        return spark.read.option("basePath", uri).parquet(*files)


class DeltaSparkEngine:
    """Spark's native `delta` format (delta-spark jars on the cluster's classpath)."""

    name = "delta-spark"

    def available(self, spark: SparkSession) -> tuple[bool, str]:
        try:
            spark._jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - any JVM lookup failure means the jars are absent
            return False, "delta-spark jars (io.delta:delta-spark) are not on Spark's classpath"
        return True, "delta-spark jars found"

    def read_stream(
        self, spark: SparkSession, uri: str, *, max_files: int, skip_replay: bool = False
    ) -> DataFrame:
        # Replay rewrites a partition: the native source must ignore those rewrites.
        return (
            spark.readStream.format("delta")
            .option("maxFilesPerTrigger", str(max_files))
            .option("skipChangeCommits", "true")
            .load(uri)
        )

    def read_stream_files(
        self, spark: SparkSession, uri: str, *, max_files: int, skip_replay: bool = False
    ) -> DataFrame:
        return self.read_stream(spark, uri, max_files=max_files, skip_replay=skip_replay)

    def write_stream(
        self, df: DataFrame, uri: str, *, partition_by: tuple[str, ...], checkpoint: str, app_id: str
    ) -> DataStreamWriter:
        writer = df.writeStream.format("delta").option("checkpointLocation", checkpoint).outputMode("append")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        return writer.option("path", uri)

    def append(
        self,
        df: DataFrame,
        uri: str,
        *,
        partition_by: tuple[str, ...],
        app_id: str,
        version: int,
        metadata: dict[str, str] | None = None,
    ) -> None:
        writer = (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", app_id)
            .option("txnVersion", str(version))
        )
        if metadata:
            import json

            writer = writer.option("userMetadata", json.dumps(metadata))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(uri)

    def read(self, spark: SparkSession, uri: str) -> DataFrame:
        return spark.read.format("delta").load(uri)


ENGINES: dict[str, type[DeltaRsEngine] | type[DeltaSparkEngine]] = {
    DeltaRsEngine.name: DeltaRsEngine,
    DeltaSparkEngine.name: DeltaSparkEngine,
}


def get_engine(name: str) -> DeltaEngine:
    """The engine the settings name (`delta.engine`)."""
    try:
        return ENGINES[name]()
    except KeyError:
        from siskin.errors import ConfigurationError

        raise ConfigurationError(f"unknown Delta engine {name!r}; choose one of {sorted(ENGINES)}") from None
