"""Distribution: simulated alerts through bronze -> silver, then silver -> filter tables and Kafka topics.

A filter of the test's own (magpsf < 19) runs in Confluent framing, one that passes everything in
fink-client framing. Tables and topics are checked against silver computed independently; every
message is decoded with the schema published in the lake; a batch that fails after producing (before
its marker commit) is run again without duplicating any candid in the topic.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.lake.catalog import table
from siskin.streams.avro import confluent_unframe, decode, parse
from siskin.streams.distribute import DistributeStage
from siskin.streams.filters.base import Filter
from siskin.streams.schemas import load_schema
from siskin.streams.topics import CANDID_HEADER

NIGHT = 20261121
ALERTS = 120


class Bright(Filter):
    name: ClassVar[str] = "test_bright"
    description: ClassVar[str] = "test: magpsf below 19"
    version: ClassVar[str] = "1"
    survey: ClassVar[str] = "ztf"
    inputs: ClassVar[tuple[str, ...]] = ("magpsf",)

    def keep(self, batch: pa.Table) -> pa.Array:
        return pc.less(batch.column("magpsf"), 19.0)


class Everything(Filter):
    name: ClassVar[str] = "test_all"
    description: ClassVar[str] = "test: every alert"
    version: ClassVar[str] = "2"
    survey: ClassVar[str] = "ztf"
    inputs: ClassVar[tuple[str, ...]] = ("candid",)

    def keep(self, batch: pa.Table) -> pa.Array:
        return pc.is_valid(batch.column("candid"))


class TwoFilters(DistributeStage):
    def __post_init__(self) -> None:
        self.filters = {"ztf": [Bright(), Everything()], "rubin": []}
        super().__post_init__()


class CrashBeforeMarker(TwoFilters):
    """Produces to the topics, commits the filter tables, then dies before the marker commit."""

    def commit_table(self, name: str, output: Any, batch_id: int, metadata: dict[str, str]) -> None:
        if name == self.marker:
            raise RuntimeError("simulated crash before the marker commit")
        super().commit_table(name, output, batch_id, metadata)


def _consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """Every message of a topic, with a plain confluent-kafka consumer."""
    import time

    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{topic}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    idle_until = None
    while time.monotonic() < deadline:
        batch = consumer.consume(500, 0.5)
        out.extend(m for m in batch if m.error() is None)
        if len(out) >= expected:
            idle_until = idle_until or time.monotonic() + 1.5  # then a short wait for any extra
            if time.monotonic() > idle_until:
                break
    consumer.close()
    return out


@pytest.fixture(scope="module")
def lake(spark_session: Any, embedded_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A lake holding one simulated night in silver; distribution settings pointing at the broker."""
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.simulate import simulate_night_records, write_to_dir

    root = tmp_path_factory.mktemp("distribute")
    landing = root / "landing"
    write_to_dir(simulate_night_records(NIGHT, n_alerts=ALERTS, seed=7), landing, night=NIGHT)
    settings = Settings(
        lake=str(root / "lake"),
        spark={"shuffle_partitions": 2},
        science={"modules": ["roid", "nalerthist"]},  # the cheap ones: silver is not what is tested here
        kafka={"bootstrap": embedded_broker.bootstrap},
        streams={"topic_prefix": f"t{id(root) % 10000}_", "fink_compat_topics": {"test_bright": False}},
    )
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(landing)], available_now=True).awaitTermination()
    house.start_silver(available_now=True).awaitTermination()
    # first run dies after producing, before its marker; the rerun must not send anything twice
    with pytest.raises(Exception, match="simulated crash"):
        house.start_distribute_with(CrashBeforeMarker, available_now=True).awaitTermination()
    house.start_distribute_with(TwoFilters, available_now=True).awaitTermination()
    house.release()
    return settings


def _silver(settings: Settings) -> pa.Table:
    return DeltaTable(table("silver.alerts").path(settings.lake_uri)).to_pyarrow_table()


def test_filter_tables_hold_exactly_the_passing_alerts(lake: Settings) -> None:
    silver = _silver(lake)
    assert silver.num_rows > 50
    bright = silver.filter(pc.less(silver.column("magpsf"), 19.0))
    assert 0 < bright.num_rows < silver.num_rows  # the filter really selects
    for name, expected in (("test_bright", bright), ("test_all", silver)):
        got = DeltaTable(table(f"gold.filter_{name}").path(lake.lake_uri)).to_pyarrow_table()
        assert Counter(got.column("candid").to_pylist()) == Counter(expected.column("candid").to_pylist())
        assert set(got.column("night").to_pylist()) == {NIGHT}
        assert set(got.column("filter_version").to_pylist()) == {"1" if name == "test_bright" else "2"}


def test_confluent_topic_decodes_with_published_schema(lake: Settings, embedded_broker: Any) -> None:
    topic = f"{lake.streams.topic_prefix}test_bright"
    schema, sidecar = load_schema(lake.lake_uri, topic)
    assert sidecar["framing"] == "confluent"
    silver = _silver(lake)
    bright = silver.filter(pc.less(silver.column("magpsf"), 19.0))
    messages = _consume(embedded_broker.bootstrap, topic, bright.num_rows)
    parsed = parse(schema)
    by_candid = {r["candid"]: r for r in bright.select(["candid", "objectId", "magpsf", "jd"]).to_pylist()}
    decoded = []
    for msg in messages:
        sid, body = confluent_unframe(msg.value())
        assert sid == sidecar["schema_id"]
        record = decode(body, parsed)
        assert msg.key() == str(record["candid"]).encode()
        assert dict(msg.headers())[CANDID_HEADER] == str(record["candid"]).encode()
        want = by_candid[record["candid"]]
        assert record["objectId"] == want["objectId"] and record["jd"] == want["jd"]
        assert record["magpsf"] == pytest.approx(want["magpsf"])
        assert isinstance(record["prv_candidates"], list)
        decoded.append(record["candid"])
    assert Counter(decoded) == Counter(list(by_candid))  # each once, none missing, despite the crashed run


def test_fink_topic_once_each_and_marker(lake: Settings, embedded_broker: Any) -> None:
    topic = f"{lake.streams.topic_prefix}test_all"
    schema, sidecar = load_schema(lake.lake_uri, topic)
    assert sidecar["framing"] == "fink"
    silver = _silver(lake)
    messages = _consume(embedded_broker.bootstrap, topic, silver.num_rows)
    parsed = parse(schema)
    candids = []
    for msg in messages:
        assert json.loads(msg.key()) == json.loads(json.dumps(schema))  # key = writer schema as JSON
        candids.append(decode(msg.value(), parsed)["candid"])
    assert Counter(candids) == Counter(silver.column("candid").to_pylist())
    marker = DeltaTable(table("ops.distribution").path(lake.lake_uri)).to_pyarrow_table().to_pylist()
    mine = [m for m in marker if m["topic"] == topic]
    assert sum(m["passed"] for m in mine) == silver.num_rows
    # the rerun found the crashed run's messages in the topic instead of sending them again
    assert sum(m["already_in_topic"] for m in mine) > 0
    assert sum(m["already_in_topic"] + m["produced"] for m in mine) == silver.num_rows
    ends = json.loads(mine[-1]["end_offsets"])
    assert sum(ends.values()) == len(messages)


def test_fink_client_alert_consumer_reads_the_topic(lake: Settings, embedded_broker: Any) -> None:
    from fink_client.consumer import AlertConsumer

    topic = f"{lake.streams.topic_prefix}test_all"
    silver = _silver(lake)
    config = {"bootstrap.servers": embedded_broker.bootstrap, "group.id": "fink-client-test"}
    seen: list[int] = []
    with AlertConsumer([topic], config, survey="ztf") as consumer:
        for _ in range(60):
            for got_topic, alert, _key in consumer.consume(200, timeout=1.0):
                if got_topic is not None:
                    assert got_topic == topic
                    seen.append(alert["candid"])
            if len(seen) >= silver.num_rows:
                break
    assert Counter(seen) == Counter(silver.column("candid").to_pylist())
    assert all(isinstance(c, int) for c in seen)


def test_avro_schema_round_trips_every_silver_column(lake: Settings) -> None:
    topic = f"{lake.streams.topic_prefix}test_all"
    schema, _ = load_schema(lake.lake_uri, topic)
    names = [f["name"] for f in schema["fields"]]
    assert names == table("gold.filter_test_all").arrow_schema().names
    assert Path(lake.lake_uri, "_schemas", f"{topic}.avsc").is_file()
