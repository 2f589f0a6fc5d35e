"""Knowing when streaming queries have caught up, from their checkpoints and the tables they read."""

from __future__ import annotations

import time
from collections.abc import Callable

from pyspark.sql.streaming import StreamingQuery

from siskin.config import Settings
from siskin.errors import SiskinError
from siskin.lake.catalog import checkpoint_path, table_path
from siskin.query.status import checkpoint_offset, checkpoint_offsets, upstream_tables


def committed_version(settings: Settings, query: str) -> int:
    """The last upstream Delta version a downstream query has committed (-1 if none)."""
    offset = checkpoint_offset(checkpoint_path(settings.checkpoints_uri, query))
    return int(offset["version"]) if offset else -1


def caught_up(settings: Settings, query: str) -> bool:
    """Whether a downstream query (silver, gold) has committed every version of every table it reads."""
    offsets = checkpoint_offsets(checkpoint_path(settings.checkpoints_uri, query)) or []
    for i, name in enumerate(upstream_tables(query)):
        version = table_version(settings, name)
        done = int(offsets[i]["version"]) if i < len(offsets) else -1
        if done < version:
            return False
    return True


def committed_kafka_messages(settings: Settings, query: str) -> int:
    """Messages a Kafka -> bronze query has committed (sum of next offsets: topics created fresh)."""
    offset = checkpoint_offset(checkpoint_path(settings.checkpoints_uri, query)) or {}
    return sum(int(o) for parts in offset.values() for o in parts.values())


def table_version(settings: Settings, table: str) -> int:
    from siskin.lake.transactions import open_table

    t = open_table(table_path(settings.lake_uri, table))
    return t.version() if t is not None else -1


def wait_until(
    condition: Callable[[], bool],
    queries: list[StreamingQuery],
    *,
    timeout_s: float,
    what: str,
    poll_s: float = 0.5,
) -> None:
    """Poll `condition`; fail fast if a query died, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for q in queries:
            if not q.isActive and q.exception() is not None:
                raise SiskinError(f"streaming query {q.name} failed: {q.exception()}")
        if condition():
            return
        time.sleep(poll_s)
    raise SiskinError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def stop_all(queries: list[StreamingQuery], *, grace_s: float = 120.0) -> None:
    """Stop queries between micro-batches, so none is cut short (a cut batch is safe: it is redone
    after a restart, but Spark logs scary errors for it). After `grace_s` a busy query is stopped anyway."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is not None:
        spark.sparkContext.setLogLevel("OFF")
    try:
        for q in queries:
            deadline = time.monotonic() + grace_s
            try:
                while q.isActive and q.status.get("isTriggerActive") and time.monotonic() < deadline:
                    time.sleep(0.05)
                if q.isActive:
                    q.stop()
            except Exception:  # noqa: BLE001 - stopping mid-batch may raise benign interruption errors
                pass
    finally:
        if spark is not None:
            spark.sparkContext.setLogLevel(spark.conf.get("spark.siskin.logLevel", "ERROR") or "ERROR")
