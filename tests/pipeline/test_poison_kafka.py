"""Poison on the Kafka stream: a tombstone (null value) becomes a `tombstone` reject while the query runs on,
and the good alerts before and after it land."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from deltalake import DeltaTable

from siskin.config import Settings

pytestmark = pytest.mark.slow


def _produce(bootstrap: str, topic: str, values: list[bytes | None]) -> None:
    """Send values (None = a tombstone) in order to partition 0, one produce request each."""
    producer = Producer({"bootstrap.servers": bootstrap, "batch.num.messages": 1, "linger.ms": 1})
    for value in values:
        producer.produce(topic, value=value, partition=0)
        producer.flush(30)
    assert producer.flush(30) == 0
    producer.close()


def _rows(lake: Path, table: str, columns: list[str]) -> Any:
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(lake / table)).to_pandas(columns=columns)
    except TableNotFoundError:
        import pandas as pd

        return pd.DataFrame(columns=columns)


def test_a_tombstone_in_a_running_stream_becomes_a_reject_and_the_stream_goes_on(
    embedded_broker, spark_session, tmp_path: Path
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import stop_all, wait_until
    from siskin.simulate.ztf import simulate_night_records

    good = list(simulate_night_records(20261123, n_alerts=40, seed=11))
    topic = "poison-tombstone"
    embedded_broker.create_topic(topic, 1)
    lake = tmp_path / "lake"
    settings = Settings(lake=lake, stream={"trigger_seconds": 0.5})
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    queries = [
        house.start_bronze_kafka(
            bootstrap=embedded_broker.bootstrap, topics=[topic], starting_offsets="earliest"
        ),
        house.start_silver(),
    ]
    try:
        _produce(embedded_broker.bootstrap, topic, [p for _, p in good[:20]])
        wait_until(
            lambda: len(_rows(lake, "silver/alerts", ["candid"])) == 20,
            queries,
            timeout_s=120,
            what="the first 20 alerts in silver",
        )
        _produce(
            embedded_broker.bootstrap, topic, [None, *(p for _, p in good[20:])]
        )  # tombstone at offset 20
        wait_until(
            lambda: (
                len(_rows(lake, "silver/alerts", ["candid"])) == 40
                and len(_rows(lake, "silver/rejects", ["reason_code"])) == 1
            ),
            queries,
            timeout_s=120,
            what="the tombstone reject and the 20 alerts after it",
        )
        assert all(q.isActive and q.exception() is None for q in queries)
    finally:
        stop_all(queries)
        house.release()

    silver = _rows(lake, "silver/alerts", ["candid", "offset"])
    assert sorted(silver["candid"]) == sorted(c for c, _ in good)
    assert set(silver["offset"]) == set(range(20)) | set(range(21, 41))
    rejects = _rows(
        lake, "silver/rejects", ["reason_code", "reason", "offset", "topic", "payload", "payload_size"]
    )
    assert rejects["reason_code"].tolist() == ["tombstone"]
    assert rejects["offset"].tolist() == [20] and rejects["topic"].tolist() == [topic]
    assert rejects["payload"].isna().all() and rejects["payload_size"].tolist() == [0]
    bronze = _rows(lake, "bronze/alerts", ["offset", "payload_size", "source_error"])
    assert len(bronze) == 41 and bronze.loc[bronze["offset"] == 20, "payload_size"].tolist() == [0]
