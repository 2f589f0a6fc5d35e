"""Bad input on the Kafka stream becomes reject rows with distinct reasons; the query stays up."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import random
from pathlib import Path

import fastavro
import pyarrow.compute as pc
from deltalake import DeltaTable

from siskin.config import Settings

SCHEMA_FILE = (
    Path(__file__).resolve().parents[2] / "siskin" / "alerts" / "schemas" / "ztf" / "4.02" / "alert.avsc"
)


def _encode(record: dict, schema: dict) -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), [record])
    return out.getvalue()


def bad_corpus(good: bytes) -> dict[str, bytes]:
    """One payload per kind of bad input, derived from a real-looking good alert."""
    schema = json.loads(SCHEMA_FILE.read_text())
    record = next(iter(fastavro.reader(io.BytesIO(good))))
    unknown = copy.deepcopy(record)
    unknown["schemavsn"] = "9.99"
    unknown["candid"] += 1
    nan_mag = copy.deepcopy(record)
    nan_mag["candidate"]["magpsf"] = math.nan
    nan_mag["candid"] += 2
    inf_ra = copy.deepcopy(record)
    inf_ra["candidate"]["ra"] = math.inf
    inf_ra["candid"] += 3
    nullable = copy.deepcopy(schema)  # both copies of candid nullable: top level and candidate.candid
    next(f for f in nullable["fields"] if f["name"] == "candid")["type"] = ["null", "long"]
    candidate = next(f for f in nullable["fields"] if f["name"] == "candidate")["type"]
    next(f for f in candidate["fields"] if f["name"] == "candid")["type"] = ["null", "long"]
    no_candid = copy.deepcopy(record)
    no_candid["candid"] = None  # nowhere (a top-level null alone is recovered from candidate.candid)
    no_candid["candidate"]["candid"] = None
    other = {
        "type": "record",
        "name": "weather",
        "namespace": "obs",
        "fields": [{"name": "station", "type": "string"}, {"name": "temp", "type": "double"}],
    }
    return {
        "truncated": good[: len(good) // 2],
        "not_avro": b"\x7f" + random.Random(5).randbytes(1999),  # not 0x00 (Confluent) nor "Obj"
        "unknown_schema": _encode({"station": "palomar", "temp": 12.5}, other),
        "unknown_schema_version": _encode(unknown, schema),
        "missing_field": _encode(no_candid, nullable),
        "non_finite": _encode(nan_mag, schema),
        "non_finite_ra": _encode(inf_ra, schema),
        "oversized": good + b"\0" * 300_000,
    }


def test_bad_messages_become_rejects_and_good_ones_still_land(
    embedded_broker, spark_session, tmp_path: Path
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.simulate.ztf import simulate_night_records
    from siskin.sources.kafka_publish import publish

    good = list(simulate_night_records(20261122, n_alerts=40, seed=3))
    corpus = bad_corpus(good[0][1])
    topic = "bad-input"
    embedded_broker.create_topic(topic, 2)
    # good, then every bad kind, then good again: the stream must keep going past the bad ones
    payloads = [p for _, p in good[:20]] + list(corpus.values()) + [p for _, p in good[20:]]
    assert publish(payloads, topic, embedded_broker.bootstrap).messages == len(payloads)

    settings = Settings(lake=tmp_path / "lake", decode={"max_alert_bytes": 200_000})
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    house.start_bronze_kafka(
        available_now=True, bootstrap=embedded_broker.bootstrap, topics=[topic], starting_offsets="earliest"
    ).awaitTermination()
    house.run_downstream_available_now()

    silver = DeltaTable(str(tmp_path / "lake" / "silver" / "alerts")).to_pyarrow_table(columns=["candid"])
    assert set(silver.column("candid").to_pylist()) == {c for c, _ in good}
    rejects = DeltaTable(str(tmp_path / "lake" / "silver" / "rejects")).to_pandas()
    assert len(rejects) == len(corpus)
    codes = dict(zip(rejects["bronze_sha256"], rejects["reason_code"], strict=True))
    for kind, payload in corpus.items():
        expected = "non_finite" if kind == "non_finite_ra" else kind
        got = codes[hashlib.sha256(payload).hexdigest()]
        assert got == expected, (kind, got)
    assert rejects["reason"].str.len().min() > 10
    assert rejects["payload"].map(len).tolist() == rejects["payload_size"].tolist()
    assert pc.all(
        pc.is_valid(
            DeltaTable(str(tmp_path / "lake" / "silver" / "rejects"))
            .to_pyarrow_table(columns=["offset"])
            .column("offset")
        )
    ).as_py()
