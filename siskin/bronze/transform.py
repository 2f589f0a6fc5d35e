"""Bronze: every received alert payload exactly as it arrived, plus where it came from.

Sources (Kafka, archives) are first mapped to one "received" shape; `to_bronze_table` then adds the
content hash and a cheap peek (survey, schema version, first candid, night) without decoding the
whole alert. A payload the peek cannot read still lands in bronze (night from its arrival time):
bronze never drops anything; silver decides what is a reject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from siskin.config import DecodeSettings
from siskin.lake.catalog import BRONZE_SCHEMA

RECEIVED_COLUMNS = (
    "payload",
    "source",
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "sent_ns",
    "file_path",
    "file_member",
)


def files_received(df: DataFrame) -> DataFrame:
    """Archive files and tar members in the received shape."""
    return df.select(
        "payload",
        F.lit("file").alias("source"),
        F.lit(None).cast("string").alias("topic"),
        F.lit(None).cast("int").alias("partition"),
        F.lit(None).cast("long").alias("offset"),
        F.lit(None).cast("timestamp").alias("kafka_timestamp"),
        F.lit(None).cast("long").alias("sent_ns"),
        "file_path",
        "file_member",
        F.col("source_error")
        if "source_error" in df.columns
        else F.lit(None).cast("string").alias("source_error"),
    )


def kafka_received_arrow(messages: pa.Table) -> pa.Table:
    """Kafka messages (the source's Arrow schema) in the received shape, without Spark."""
    n = messages.num_rows
    return pa.table(
        {
            "payload": messages.column("value"),
            "source": pa.array(["kafka"] * n, pa.string()),
            "topic": messages.column("topic"),
            "partition": messages.column("partition").cast(pa.int32()),
            "offset": messages.column("offset"),
            "kafka_timestamp": messages.column("timestamp"),
            "sent_ns": messages.column("sent_ns"),
            "file_path": pa.nulls(n, pa.string()),
            "file_member": pa.nulls(n, pa.string()),
        }
    )


def bronze_transform(
    settings: DecodeSettings, kafka_options: dict[str, str] | None = None
) -> Callable[[pa.Table], dict[str, pa.Table]]:
    """The task-side transform: received rows, or Kafka offset ranges read here, -> bronze rows."""

    def transform(batch: pa.Table) -> dict[str, pa.Table]:
        if "start" in batch.column_names and "payload" not in batch.column_names:
            from siskin.sources.kafka import read_ranges

            if kafka_options is None:
                raise ValueError("offset ranges need the Kafka source options to be read")
            batches = list(read_ranges(kafka_options, batch))
            if not batches:
                return {}
            received = kafka_received_arrow(pa.Table.from_batches(batches))
        else:
            received = batch
        return {"bronze.alerts": to_bronze_table(received, settings)}

    return transform


def night_of(ts_us: np.ndarray) -> np.ndarray:
    """YYYYMMDD (UTC date) of microsecond timestamps, vectorised."""
    days = ts_us.astype("datetime64[us]").astype("datetime64[D]")
    text = np.datetime_as_string(days).astype("U10")
    return np.char.replace(text, "-", "").astype(np.int32)


def peek_chunks(payloads: pa.ChunkedArray, settings: DecodeSettings) -> pa.Table:
    """The peek of each chunk of payloads, in order, without concatenating (copying) the payloads."""
    from siskin.alerts.decoder import peek_payloads

    chunks = payloads.chunks or [pa.array([], pa.binary())]
    return pa.concat_tables([peek_payloads(chunk, settings) for chunk in chunks])


def sha256_hex(payloads: pa.ChunkedArray) -> pa.Array:
    """Hex SHA-256 of each payload, hashed in place in the Arrow buffers ("" for a null payload)."""
    from siskin.alerts.payloads import payload_views

    views = (view for chunk in payloads.chunks for view in payload_views(chunk))
    return pa.array([hashlib.sha256(v).hexdigest() if v is not None else "" for v in views], pa.string())


def to_bronze_table(received: pa.Table, settings: DecodeSettings, now: datetime | None = None) -> pa.Table:
    """Received rows -> bronze rows (same order), with hash, peek columns, night and ingest time."""
    now = now or datetime.now(UTC)
    payloads = received.column("payload")  # kept in its chunks: combining them would copy every payload
    if pa.types.is_large_binary(payloads.type):
        payloads = payloads.cast(pa.binary())
    peek = peek_chunks(payloads, settings)
    digests = sha256_hex(payloads)
    n = received.num_rows
    ingest = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
    arrival = received.column("kafka_timestamp").cast(pa.timestamp("us", tz="UTC")).combine_chunks()
    arrival = pc.fill_null(arrival, ingest)
    fallback_night = night_of(arrival.cast(pa.int64()).to_numpy(zero_copy_only=False))
    night = pc.fill_null(peek.column("night").cast(pa.int32()), pa.array(fallback_night, pa.int32()))
    columns = {
        "payload": payloads,
        "payload_size": pc.fill_null(pc.binary_length(payloads).cast(pa.int64()), 0),
        "sha256": digests,
        "ingest_time": ingest,
        "night": night,
    }
    for name in RECEIVED_COLUMNS[1:]:
        columns[name] = received.column(name)
    columns["source_error"] = (
        received.column("source_error")
        if "source_error" in received.column_names
        else pa.nulls(n, pa.string())
    )
    for name in ("survey", "schema_name", "schema_version", "n_alerts", "object_id", "candid", "peek_error"):
        columns[name] = peek.column(name)
    return pa.table({f.name: columns[f.name] for f in BRONZE_SCHEMA}).cast(BRONZE_SCHEMA)
