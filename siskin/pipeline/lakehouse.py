"""The lakehouse's streaming queries, wired together: sources -> bronze -> silver -> gold.

Each layer is its own streaming query with its own checkpoint, chained by streaming reads of the
Delta tables, so a slow stage never blocks ingestion. `run_available_now` drives all of them to
completion in order (batch mode); `start_streams` leaves them running.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from siskin.bronze.batch import BronzeStage
from siskin.bronze.transform import files_received
from siskin.config import Settings
from siskin.gold.batch import GoldStage
from siskin.gold.objects import GOLD_SCHEMA
from siskin.lake.checkpoints import checkpoint_app_id, describe_source
from siskin.lake.engine import DeltaEngine, get_engine
from siskin.lake.tables import (
    BRONZE_ALERTS,
    BRONZE_SCHEMA,
    GOLD_OBJECTS,
    OPS_BATCHES,
    OPS_BATCHES_SCHEMA,
    SILVER_ALERTS,
    SILVER_CUTOUTS,
    SILVER_REJECTS,
    SILVER_RUBIN,
    checkpoint_path,
    table_path,
)
from siskin.silver.batch import SilverStage
from siskin.silver.transform import cutouts_schema, rejects_schema, rubin_schema, silver_schema

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

    def path(self, table: str) -> str:
        return table_path(self.lake, table)

    def ensure_tables(self) -> None:
        """Create every table with its schema, so downstream queries can start before data arrives."""
        from siskin.lake.transactions import ensure_table

        if "://" not in self.lake:
            Path(self.lake).mkdir(parents=True, exist_ok=True)
        specs = [
            (BRONZE_ALERTS, BRONZE_SCHEMA),
            (SILVER_ALERTS, silver_schema()),
            (SILVER_CUTOUTS, cutouts_schema()),
            (SILVER_REJECTS, rejects_schema()),
            (SILVER_RUBIN, rubin_schema()),
            (GOLD_OBJECTS, GOLD_SCHEMA),
            (OPS_BATCHES, OPS_BATCHES_SCHEMA),
        ]
        for spec, schema in specs:
            ensure_table(self.path(spec.name), schema, spec.partition_by, spec.description)

    def _trigger(self, writer: DataStreamWriter, available_now: bool) -> DataStreamWriter:
        if available_now:
            return writer.trigger(availableNow=True)
        return writer.trigger(processingTime=f"{self.settings.stream.trigger_seconds} seconds")

    def _bronze_query(
        self,
        received: DataFrame,
        name: str,
        available_now: bool,
        kafka_options: dict[str, str] | None = None,
        source_paths: list[str] | None = None,
    ) -> StreamingQuery:
        ckpt = checkpoint_path(self.lake, name)
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
        reader = self.spark.readStream.format("siskin_kafka").option("rangesOnly", "true")
        for key, value in options.items():
            reader = reader.option(key, value)
        name = self.kafka_query_name(bootstrap, topics, pattern)
        return self._bronze_query(reader.load(), name, available_now, kafka_options=options)

    def start_bronze_files(self, paths: Sequence[str], *, available_now: bool = False) -> StreamingQuery:
        """Avro files, folders and tarballs -> bronze (one checkpoint per set of input paths)."""
        absolute = sorted(p if "://" in p else str(Path(p).resolve()) for p in paths)
        name = "bronze_files_" + _digest(absolute)
        reader = (
            self.spark.readStream.format("siskin_files")
            .option("paths", json.dumps(absolute))
            .option("manifest", f"{checkpoint_path(self.lake, name)}/siskin_manifest.jsonl")
        )
        return self._bronze_query(files_received(reader.load()), name, available_now, source_paths=absolute)

    def start_silver(self, *, available_now: bool = False) -> StreamingQuery:
        """bronze -> silver alerts, cutouts and rejects."""
        ckpt = checkpoint_path(self.lake, "silver")
        stage = SilverStage(self.settings, checkpoint_app_id(ckpt, "silver"))
        source = self.engine.read_stream_files(
            self.spark, self.path(BRONZE_ALERTS.name), max_files=self.settings.stream.max_files_per_trigger
        )
        writer = source.writeStream.foreachBatch(stage).option("checkpointLocation", ckpt).queryName("silver")
        return self._trigger(writer, available_now).start()

    def start_gold(self, *, available_now: bool = False) -> StreamingQuery:
        """silver -> gold objects."""
        ckpt = checkpoint_path(self.lake, "gold")
        stage = GoldStage(self.settings, checkpoint_app_id(ckpt, "gold"))
        source = self.engine.read_stream_files(
            self.spark,
            self.path(SILVER_ALERTS.name),
            max_files=self.settings.stream.max_files_per_trigger * 4,
            skip_replay=True,
        )
        writer = source.writeStream.foreachBatch(stage).option("checkpointLocation", ckpt).queryName("gold")
        return self._trigger(writer, available_now).start()

    def run_downstream_available_now(self) -> None:
        """Bring silver then gold up to date with bronze, then return."""
        for start in (self.start_silver, self.start_gold):
            query = start(available_now=True)
            query.awaitTermination()
