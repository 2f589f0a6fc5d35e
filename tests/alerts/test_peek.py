"""The bronze peek agrees with the full decode, and reports (never raises) on bad bytes."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pyarrow as pa
import pytest
from ztf_payloads import datum, encode

from siskin.alerts import peek as peek_module
from siskin.alerts.avro_container import encode_long, parse_header, read_long
from siskin.alerts.decoder import peek_payloads
from siskin.config import DecodeSettings


def test_peek_agrees_with_decode_on_the_first_alert_of_each_payload(real_payloads, decoded_real) -> None:
    peek = peek_payloads(real_payloads, DecodeSettings())
    assert peek.num_rows == len(real_payloads)
    assert peek.column("peek_error").null_count == peek.num_rows
    alerts = decoded_real.alerts
    first: dict[int, int] = {}
    for i, row in enumerate(alerts.column("_row").to_pylist()):
        first.setdefault(row, i)
    firsts = alerts.take(pa.array([first[row] for row in range(len(real_payloads))]))
    assert peek.column("candid").to_pylist() == firsts.column("candid").to_pylist()
    assert peek.column("object_id").to_pylist() == firsts.column("objectId").to_pylist()
    assert peek.column("night").to_pylist() == firsts.column("night").to_pylist()
    assert peek.column("schema_version").to_pylist() == firsts.column("schema_version").to_pylist()
    assert set(peek.column("survey").to_pylist()) == {"ztf"}
    assert set(peek.column("schema_name").to_pylist()) == {"ztf.alert", "topLevelRecord"}


def test_peek_counts_every_record_of_a_payload(real_payloads, oracle) -> None:
    counts = peek_payloads(real_payloads, DecodeSettings()).column("n_alerts").to_pylist()
    assert sum(counts) == len(oracle)
    assert max(counts) > 50  # the multi-alert Spark files


def test_peek_reports_bad_bytes_in_place(good_402: bytes) -> None:
    payloads = pa.array(
        [b"", b"Obj\x01\x02", b"\x00\x00\x00\x00\x09abc", b"random bytes " * 10, good_402, None], pa.binary()
    )
    peek = peek_payloads(payloads, DecodeSettings())
    errors = peek.column("peek_error").to_pylist()
    assert [e.split(":")[0] if e else None for e in errors] == [
        "not_avro",
        "truncated",
        "unknown_confluent_schema_id",
        "not_avro",
        None,
        "not_avro",
    ]
    assert peek.column("candid").to_pylist()[4] is not None
    assert peek.column("candid").null_count == 5


def test_peek_names_an_unknown_writer_schema(real_payloads) -> None:
    import io

    import fastavro

    schema = {
        "type": "record",
        "name": "weather",
        "namespace": "obs",
        "fields": [{"name": "t", "type": "double"}],
    }
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), [{"t": 1.0}])
    peek = peek_payloads(pa.array([out.getvalue()]), DecodeSettings()).to_pylist()[0]
    assert peek["schema_name"] == "obs.weather" and peek["peek_error"].startswith("unknown_schema")
    assert peek["survey"] is None


# --- the column-wise path agrees with the row-by-row reference -----------------------------------

UNIONS = {
    "type": "record",
    "name": "alert",
    "namespace": "test",
    "version": "4.02",
    "fields": [
        {"name": "schemavsn", "type": ["null", "string"]},
        {"name": "flag", "type": ["null", "boolean", "long", "float", "double", "bytes", "string"]},
        {"name": "tag", "type": {"type": "fixed", "name": "tag4", "size": 4}},
        {"name": "kind", "type": {"type": "enum", "name": "kind", "symbols": ["A", "B", "C"]}},
        {"name": "objectId", "type": ["null", "string"]},
        {"name": "candid", "type": ["null", "long", "double"]},
        {
            "name": "candidate",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "candidate",
                    "fields": [
                        {"name": "pid", "type": ["null", "long"]},
                        {"name": "jd", "type": ["null", "double", "long", "string"]},
                        {"name": "magpsf", "type": "float"},
                    ],
                },
            ],
        },
        {"name": "after", "type": {"type": "array", "items": "long"}},
    ],
}


def _record(rng: random.Random, i: int) -> dict[str, Any]:
    """A record of UNIONS taking a different union branch now and then."""
    return {
        "schemavsn": rng.choice([None, "", "4.02", "3.3"]),
        "flag": rng.choice([None, True, 7, 1.5, 2.5, b"\x00\xff", "x" * rng.randint(0, 300)]),
        "tag": b"abcd",
        "kind": rng.choice("ABC"),
        "objectId": rng.choice([None, "", f"ZTF26{i:07d}", "é" * 70]),
        "candid": rng.choice([None, 3_000_000_000_000_000_000 + i, -(2**63), 2**63 - 1, 1.5]),
        "candidate": rng.choice(
            [None, {"pid": None, "jd": 2461000.5 + i / 100, "magpsf": 18.0}]
            + [{"pid": 12, "jd": rng.choice([None, 2461000, "2461000.5"]), "magpsf": 18.0}]
        ),
        "after": list(range(rng.randint(0, 3))),
    }


def _peek_both(payloads: list[bytes | None], settings: DecodeSettings | None = None) -> pa.Table:
    """The peek, checked to equal the reference row by row."""
    settings = settings or DecodeSettings()
    array = pa.array(payloads, pa.binary())
    fast = peek_payloads(array, settings)
    reference = peek_payloads(array, settings, columnar=False)
    for i, (got, want) in enumerate(zip(fast.to_pylist(), reference.to_pylist(), strict=True)):
        assert got == want, (i, payloads[i][:200] if payloads[i] else payloads[i])
    assert fast.schema == reference.schema
    return fast


def _reblock(container: bytes, count: int, block: bytes) -> bytes:
    """The container's header and sync around one hand-made block."""
    _, sync, pos = parse_header(container)
    return container[:pos] + encode_long(count) + encode_long(len(block)) + block + sync


def _block(container: bytes) -> bytes:
    _, _, pos = parse_header(container)
    _, pos = read_long(container, pos)
    size, pos = read_long(container, pos)
    return container[pos : pos + size]


@pytest.fixture(scope="module")
def simulated() -> list[bytes]:
    """Simulated ZTF 4.02 alerts (no real data needed): what the Kafka stream carries."""
    from siskin.simulate.ztf import simulate_night

    return list(simulate_night(20261121, n_alerts=40, seed=5))


def test_plain_containers_are_peeked_column_wise(simulated: list[bytes], monkeypatch) -> None:  # noqa: ANN001
    calls: list[object] = []
    reference = peek_module._peek_one
    monkeypatch.setattr(peek_module, "_peek_one", lambda *args: calls.append(args) or reference(*args))
    peek = _peek_both(simulated)
    assert peek.column("peek_error").null_count == len(simulated)
    assert peek.column("candid").null_count == 0 and set(peek.column("night").to_pylist()) == {20261121}
    calls.clear()
    peek_payloads(pa.array(simulated), DecodeSettings())
    assert calls == []  # not one payload needed the row-by-row path


def test_column_wise_peek_agrees_on_every_union_branch() -> None:
    rng = random.Random(3)
    records = [_record(rng, i) for i in range(300)]
    peek = _peek_both([encode([r], UNIONS) for r in records])
    assert peek.column("peek_error").null_count == 300
    candids = peek.column("candid").to_pylist()
    assert {type(r["candid"]) for r, c in zip(records, candids, strict=True) if c is not None} == {int}
    assert peek.column("object_id").to_pylist() == [r["objectId"] for r in records]


def test_column_wise_peek_agrees_on_odd_and_broken_payloads(
    simulated: list[bytes], schema_402: dict[str, Any]
) -> None:
    good = simulated[0]
    record = next(iter(fastavro.reader(io.BytesIO(good))))
    block = _block(good)
    at = block.index(record["objectId"].encode())
    two = encode([record, record], schema_402)
    _, sync, pos = parse_header(two)
    one_block = _block(encode([record], schema_402))
    settings = DecodeSettings(confluent_schema_ids={"7": "4.02"})
    payloads: list[bytes | None] = [
        *simulated[:3],
        None,
        b"",
        b"Obj\x01",
        good[: len(good) // 2],
        good[:200],
        good + b"\x00",
        good[:-1] + bytes([good[-1] ^ 1]),  # broken sync marker
        _reblock(good, 0, block),
        _reblock(good, 2**40, block),  # a count the n_alerts column cannot hold
        _reblock(good, 1, block[: at - 1] + b"\x98\x00" + block[at:]),  # overlong length varint
        _reblock(good, 1, block[: at - 1] + b"\x98" * 11 + block[at:]),  # runaway varint
        _reblock(good, 1, block[:at] + b"\xff\xfe" + block[at + 2 :]),  # objectId not UTF-8
        _reblock(good, 1, block[: at - 1] + b"\x7e" + block[at:]),  # length past the block
        encode([record], schema_402),  # another header: a second group
        encode([record], schema_402, codec="deflate"),
        two,
        two[:pos] + encode_long(1) + encode_long(len(one_block)) + one_block + sync + two[pos:][-16:],
        two[:pos] + b"\x02" + encode_long(len(one_block)) + one_block + sync + b"\x00\x00" + sync,
        b"\x00" + (7).to_bytes(4, "big") + datum(record, schema_402),
        b"\x00" + (8).to_bytes(4, "big") + datum(record, schema_402),
        datum(record, schema_402),
        b"random bytes " * 40,
        *simulated[3:6],
    ]
    peek = _peek_both(payloads, settings)
    errors = peek.column("peek_error").to_pylist()
    assert errors[:3] == [None] * 3 and errors[-3:] == [None] * 3
    assert sum(e is not None for e in errors) >= 12


@pytest.mark.parametrize("seed", [1, 2])
def test_column_wise_peek_agrees_on_mutated_payloads(simulated: list[bytes], seed: int) -> None:
    rng = random.Random(seed)
    unions = [encode([_record(rng, i)], UNIONS) for i in range(20)]
    payloads = []
    for i in range(400):
        data = bytearray(rng.choice(simulated) if i % 2 else rng.choice(unions))
        _, _, header = parse_header(bytes(data))
        reach = header + 120  # the envelope and the leading fields: all the peek reads
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(["flip", "flip", "truncate", "insert", "delete"])
            pos = rng.randrange(0, min(reach, len(data)))
            if kind == "flip":
                data[pos] = rng.randrange(256)
            elif kind == "truncate":
                del data[pos:]
            elif kind == "insert":
                data[pos:pos] = rng.randbytes(rng.randint(1, 4))
            else:
                del data[pos : pos + rng.randint(1, 4)]
            if not data:
                break
        payloads.append(bytes(data))
    peek = _peek_both(payloads + simulated[:4])
    assert peek.column("peek_error").null_count > 4  # mutations the peek does not notice are fine


def test_bronze_rows_hash_and_peek_each_chunk_in_place(simulated: list[bytes]) -> None:
    import hashlib

    from siskin.bronze.transform import kafka_received_arrow, to_bronze_table

    values: list[bytes | None] = [*simulated[:5], None, b"junk", *simulated[5:9]]
    n = len(values)
    messages = pa.table(
        {
            "topic": pa.array(["t"] * n),
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(range(n), pa.int64()),
            "timestamp": pa.array([1_795_000_000_000_000] * n, pa.timestamp("us", tz="UTC")),
            "value": pa.array(values, pa.binary()),
            "sent_ns": pa.array([0] * n, pa.int64()),
        }
    )
    chunked = pa.Table.from_batches(messages.to_batches(max_chunksize=4))  # as read_ranges yields them
    assert chunked.column("value").num_chunks == 3
    bronze = to_bronze_table(kafka_received_arrow(chunked), DecodeSettings())
    assert bronze.column("offset").to_pylist() == list(range(n))
    assert bronze.column("sha256").to_pylist() == [hashlib.sha256(v).hexdigest() if v else "" for v in values]
    peek = peek_payloads(pa.array(values, pa.binary()), DecodeSettings())
    for name in ("object_id", "candid", "peek_error", "n_alerts"):
        assert bronze.column(name).to_pylist() == peek.column(name).to_pylist()
    assert [e.split(":")[0] for e in bronze.column("peek_error").to_pylist()[5:7]] == ["not_avro"] * 2
    assert bronze.column("payload").to_pylist() == values
