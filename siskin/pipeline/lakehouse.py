"""The lakehouse's streaming queries, wired together: sources -> bronze -> silver -> gold.

Each layer is its own streaming query with its own checkpoint, chained by streaming reads of the
Delta tables, so a slow stage never blocks ingestion. `run_available_now` drives all of them to
completion in order (batch mode); `start_streams` leaves them running.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from siskin.bronze.batch import BronzeStage
from siskin.bronze.transform import files_received
from siskin.config import Settings
from siskin.errors import LeaseHeldError
from siskin.gold.batch import GoldStage
from siskin.lake.catalog import checkpoint_path, table, tables
from siskin.lake.checkpoints import checkpoint_app_id, describe_source
from siskin.lake.engine import DeltaEngine, get_engine
from siskin.ops.lease import Lease
from siskin.silver.batch import SilverStage

log = logging.getLogger(__name__)


def _digest(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


class Lakehouse:
    """One lake root, one Spark session, one Delta engine: the queries that fill the lake."""

    def __init__(self, settings: Settings, spark: SparkSession | None = None) -> None:
        from siskin.spark.session import build_spark

        self.settings = settings
        self.spark = spark or build_spark(settings)
        self.engine: DeltaEngine = get_engine(settings.delta.engine)
        self.lake = settings.lake_uri
        self.checkpoints = settings.checkpoints_uri
        self._leases: dict[str, Lease] = {}
        self._stages: list[object] = []  # stages holding clients (Kafka producers) to close on release

    def hold(self, names: list[str], command: str) -> None:
        """Hold the leases on these writers' tables (idempotent); refuse while a replay is unfinished."""
        from siskin.ops.lease import acquire
        from siskin.ops.replay import unfinished_replays

        wanted = [n for n in names if n not in self._leases]
        if not wanted:
            return
        for lease in acquire(self.lake, wanted, command):
            self._leases[lease.name] = lease
        pending = unfinished_replays(self.lake)
        if pending and not command.startswith("siskin replay"):
            self.release()
            nights = ", ".join(str(n) for n in pending)
            raise LeaseHeldError(
                f"a replay of night {nights} did not finish: rerun `siskin replay --night {pending[0]}` "
                "before starting the streams"
            )

    def release(self) -> None:
        """Close the stages' clients and give up every lease this process holds (queries stopped)."""
        for stage in self._stages:
            close = getattr(stage, "close", None)
            if callable(close):
                close()
        self._stages.clear()
        for lease in self._leases.values():
            lease.release()
        self._leases.clear()

    def path(self, name: str) -> str:
        return table(name).path(self.lake)

    def ensure_tables(self) -> None:
        """Create every catalog table with its schema, so downstream queries can start before data arrives."""
        from siskin.lake.transactions import add_missing_columns, ensure_table

        if "://" not in self.lake:
            Path(self.lake).mkdir(parents=True, exist_ok=True)
        for spec in tables():
            ensure_table(spec.path(self.lake), spec.arrow_schema(), spec.partition_by, spec.description)
            added = add_missing_columns(spec.path(self.lake), spec.arrow_schema())
            if added:
                log.info("%s: added columns %s (the catalog declares them)", spec.name, ", ".join(added))

    def _file_stream(self, name: str, *, max_files: int, skip_replay: bool) -> DataFrame:
        """What each commit of a lake table adds, as data-file references (Siskin's Delta log reader).

        Used under either engine: the pipeline's stages read the files in their own tasks.
        """
        return (
            self.spark.readStream.format("siskin_delta_stream")
            .option("path", self.path(name))
            .option("filesOnly", "true")
            .option("maxFilesPerTrigger", str(max_files))
            .option("skipReplay", str(skip_replay).lower())
            .load()
        )

    def _trigger(
        self, writer: DataStreamWriter, available_now: bool, seconds: float | None = None
    ) -> DataStreamWriter:
        if available_now:
            return writer.trigger(availableNow=True)
        return writer.trigger(processingTime=f"{seconds or self.settings.stream.trigger_seconds} seconds")

    def _bronze_query(
        self,
        received: DataFrame,
        name: str,
        available_now: bool,
        kafka_options: dict[str, str] | None = None,
        source_paths: list[str] | None = None,
    ) -> StreamingQuery:
        ckpt = checkpoint_path(self.checkpoints, name)
        stage = BronzeStage(
            self.settings, checkpoint_app_id(ckpt, name), query=name, kafka_options=kafka_options
        )
        describe_source(ckpt, {"kafka": kafka_options} if kafka_options else {"files": source_paths or []})
        writer = received.writeStream.foreachBatch(stage).option("checkpointLocation", ckpt).queryName(name)
        return self._trigger(writer, available_now).start()

    def kafka_query_name(
        self, bootstrap: str | None = None, topics: Sequence[str] | None = None, pattern: str | None = None
    ) -> str:
        k = self.settings.kafka
        return "bronze_kafka_" + _digest(
            bootstrap or k.bootstrap, sorted(topics or k.topics), pattern or k.topic_pattern
        )

    def start_bronze_kafka(
        self,
        *,
        available_now: bool = False,
        bootstrap: str | None = None,
        topics: Sequence[str] | None = None,
        pattern: str | None = None,
        starting_offsets: str | None = None,
    ) -> StreamingQuery:
        """Kafka -> bronze (one checkpoint per broker + topic selection).

        The source plans offset ranges; each bronze task consumes its range itself.
        """
        from siskin.sources.kafka import source_options
        from siskin.sources.kafka_gaps import GAPS_TABLE, gap_options

        k = self.settings.kafka
        options = source_options(k)
        options["bootstrap"] = bootstrap or k.bootstrap
        options["startingOffsets"] = starting_offsets or k.starting_offsets
        if topics:
            options.pop("subscribePattern", None)
            options["subscribe"] = ",".join(topics)
        if pattern:
            options.pop("subscribe", None)
            options["subscribePattern"] = pattern
        name = self.kafka_query_name(bootstrap, topics, pattern)
        app_id = checkpoint_app_id(checkpoint_path(self.checkpoints, name), name)
        options.update(gap_options(self.path(GAPS_TABLE), name, app_id))  # where failOnDataLoss=false records
        reader = self.spark.readStream.format("siskin_kafka").option("rangesOnly", "true")
        for key, value in options.items():
            reader = reader.option(key, value)
        return self._bronze_query(reader.load(), name, available_now, kafka_options=options)

    def start_bronze_files(
        self, paths: Sequence[str], *, available_now: bool = False, max_files_per_trigger: int | None = None
    ) -> StreamingQuery:
        """Avro files, folders and tarballs -> bronze (one checkpoint per set of input paths)."""
        absolute = sorted(p if "://" in p else str(Path(p).resolve()) for p in paths)
        name = "bronze_files_" + _digest(absolute)
        reader = (
            self.spark.readStream.format("siskin_files")
            .option("paths", json.dumps(absolute))
            .option("manifest", f"{checkpoint_path(self.checkpoints, name)}/siskin_manifest.jsonl")
            .option("stableSeconds", str(self.settings.stream.watch_stable_seconds))
        )
        if max_files_per_trigger is not None:
            reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
        return self._bronze_query(files_received(reader.load()), name, available_now, source_paths=absolute)

    def start_silver(self, *, available_now: bool = False) -> StreamingQuery:
        """bronze -> every silver table (each survey's alerts, cutouts, rejects)."""
        self.hold(["silver"], "silver stream")
        ckpt = checkpoint_path(self.checkpoints, "silver")
        stage = SilverStage(self.settings, checkpoint_app_id(ckpt, "silver"), query="silver")
        source = self._file_stream(
            "bronze.alerts", max_files=self.settings.stream.max_files_per_trigger, skip_replay=False
        )
        writer = source.writeStream.foreachBatch(stage).option("checkpointLocation", ckpt).queryName("silver")
        return self._trigger(writer, available_now).start()

    def start_gold(self, *, available_now: bool = False) -> StreamingQuery:
        """Each survey's silver table -> gold objects (one query over the union; replay commits skipped)."""
        self.hold(["gold"], "gold stream")
        ckpt = checkpoint_path(self.checkpoints, "gold")
        stage = GoldStage(self.settings, checkpoint_app_id(ckpt, "gold"), query="gold")
        return self._survey_query(
            stage, "gold", ckpt, available_now, seconds=self.settings.stream.gold_trigger_seconds
        )

    def start_distribute(self, *, available_now: bool = False) -> StreamingQuery:
        """Each survey's silver table -> one gold table and one Kafka topic per filter (`siskin.streams`)."""
        from siskin.streams.distribute import DistributeStage

        return self.start_distribute_with(DistributeStage, available_now=available_now)

    def start_distribute_with(self, stage_class: type, *, available_now: bool = False) -> StreamingQuery:
        """The distribute query with a given `DistributeStage` class (tests give their filters this way)."""
        self.hold(["distribute"], "distribute stream")
        ckpt = checkpoint_path(self.checkpoints, "distribute")
        stage = stage_class(self.settings, checkpoint_app_id(ckpt, "distribute"), query="distribute")
        self._stages.append(stage)
        return self._survey_query(stage, "distribute", ckpt, available_now)

    def _survey_query(
        self,
        stage: Callable[[DataFrame, int], None],
        name: str,
        ckpt: str,
        available_now: bool,
        seconds: float | None = None,
    ) -> StreamingQuery:
        """A query over the union of every survey's silver table (replay commits skipped)."""
        from pyspark.sql import functions as F

        sources = [
            self._file_stream(
                spec.name, max_files=self.settings.stream.max_files_per_trigger * 4, skip_replay=True
            ).withColumn("table", F.lit(spec.name))
            for spec in tables(writer="silver")
            if spec.survey is not None
        ]
        union = sources[0]
        for other in sources[1:]:
            union = union.unionByName(other)
        writer = union.writeStream.foreachBatch(stage).option("checkpointLocation", ckpt).queryName(name)
        return self._trigger(writer, available_now, seconds).start()

    def run_downstream_available_now(self) -> None:
        """Bring silver, gold (and the filtered streams if `streams.enabled`) up to date with bronze."""
        starts = [self.start_silver, self.start_gold]
        if self.settings.streams.enabled:
            starts.append(self.start_distribute)
        for start in starts:
            query = start(available_now=True)
            query.awaitTermination()
