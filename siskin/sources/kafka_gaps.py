"""Kafka offsets deleted by retention before Siskin read them: Spark's `failOnDataLoss` convention.

`failOnDataLoss=true` (the default) stops the query with an error naming the topic, partition and
missing offsets. `false` records each gap as a row of `ops.kafka_gaps` (shown by `siskin status`)
and reads on from the log start. Never silently: a gap is an error or a row, and a warning in the log.

A gap row is written with a Delta app transaction `(<app id>/gap/<topic>/<partition>/<from>, to)`, so
the same gap seen again (a micro-batch Spark replays, two tasks of one partition) is recorded once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from siskin.errors import BrokerError

if TYPE_CHECKING:
    from siskin.sources.kafka_offsets import KafkaSourceOptions, OffsetRange

log = logging.getLogger(__name__)

GAPS_TABLE = "ops.kafka_gaps"


def gaps_schema() -> pa.Schema:
    """`ops.kafka_gaps`: offsets [from_offset, to_offset) of a partition that retention removed unread."""
    return pa.schema(
        [
            pa.field("topic", pa.string()),
            pa.field("partition", pa.int32()),
            pa.field("from_offset", pa.int64()),
            pa.field("to_offset", pa.int64()),  # exclusive
            pa.field("messages", pa.int64()),
            pa.field("detected_at", pa.timestamp("us", tz="UTC")),
            pa.field("query", pa.string()),
            pa.field("app_id", pa.string()),
        ]
    )


def gap_options(gaps_uri: str, query: str, app_id: str) -> dict[str, str]:
    """The `siskin_kafka` options that say where and under which names a query records its gaps."""
    return {"gapsTable": gaps_uri, "queryName": query, "appId": app_id}


def describe(gaps: Sequence[OffsetRange]) -> str:
    """`ztf[0] offsets 0..99 (100 messages)`, for errors and logs."""
    return "; ".join(
        f"{g.topic}[{g.partition}] offsets {g.start}..{g.end - 1} ({g.end - g.start} messages)" for g in gaps
    )


def handle_data_loss(options: KafkaSourceOptions, gaps: Sequence[OffsetRange], bootstrap: str) -> None:
    """Fail (failOnDataLoss=true) or record the gaps and go on; a no-op without gaps."""
    gaps = [g for g in gaps if g.end > g.start]
    if not gaps:
        return
    where = describe(gaps)
    if options.fail_on_data_loss:
        raise BrokerError(
            f"Kafka data loss at {bootstrap}: {where} were deleted by the broker (retention) before Siskin "
            "read them. The query stops because failOnDataLoss is true (kafka.fail_on_data_loss). "
            "Re-publish those alerts if they exist elsewhere, or set SISKIN_KAFKA__FAIL_ON_DATA_LOSS=false "
            f"to record the gap in {GAPS_TABLE} (shown by `siskin status`) and continue from the log start."
        )
    log.warning("Kafka data loss (failOnDataLoss=false, recorded in %s): %s", GAPS_TABLE, where)
    if options.gaps_table is None:
        log.warning("no gapsTable option: the gap above is only in this log")
        return
    for gap in gaps:
        record_gap(options.gaps_table, gap, query=options.query_name or "", app_id=options.app_id or "")


def record_gap(uri: str, gap: OffsetRange, *, query: str, app_id: str) -> bool:
    """Append one gap row, idempotently; False when this gap (or a later part of it) was recorded already."""
    from siskin.lake.transactions import append_arrow, committed_version, ensure_table

    schema = gaps_schema()
    txn = f"{app_id or query}/gap/{gap.topic}/{gap.partition}/{gap.start}"
    recorded = committed_version(ensure_table(uri, schema, ()), txn)
    start = max(gap.start, recorded) if recorded is not None else gap.start
    if start >= gap.end:
        return False
    row = pa.table(
        {
            "topic": [gap.topic],
            "partition": [gap.partition],
            "from_offset": [start],
            "to_offset": [gap.end],
            "messages": [gap.end - start],
            "detected_at": [datetime.now(UTC)],
            "query": [query],
            "app_id": [app_id],
        },
        schema=schema,
    )
    return append_arrow(uri, row, app_id=txn, version=gap.end)


def read_gaps(uri: str) -> pa.Table | None:
    """Every recorded gap, oldest first; None when no gap table exists yet."""
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return None
    return table.to_pyarrow_table().sort_by([("detected_at", "ascending"), ("topic", "ascending")])
