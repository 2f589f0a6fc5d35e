"""Record framing and container parsing agree with fastavro, so DataFusion only sees well-framed blocks."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from siskin.alerts.avro_container import container_bytes, decompress, parse_container
from siskin.alerts.avro_framer import FrameError, RecordFramer
from siskin.alerts.avro_schema import inline_named_types
from siskin.errors import DecodeError


def test_framer_finds_the_record_ends_fastavro_finds(real_payloads) -> None:
    for data in real_payloads.to_pylist()[::20]:
        container = parse_container(data)
        framer = RecordFramer(inline_named_types(json.loads(container.schema)))
        schema = fastavro.parse_schema(json.loads(container.schema))
        for count, block in container.blocks:
            raw = bytes(decompress(container.codec, block, 1 << 26))
            ends = framer.split(raw, count)
            stream = io.BytesIO(raw)
            for end in ends:
                fastavro.schemaless_reader(stream, schema)
                assert stream.tell() == end


def test_framer_handles_every_avro_type() -> None:
    schema = {
        "type": "record",
        "name": "all",
        "fields": [
            {"name": "b", "type": "boolean"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "f", "type": "float"},
            {"name": "d", "type": "double"},
            {"name": "s", "type": "string"},
            {"name": "y", "type": "bytes"},
            {"name": "x", "type": {"type": "fixed", "name": "x4", "size": 4}},
            {"name": "e", "type": {"type": "enum", "name": "e", "symbols": ["A", "B"]}},
            {"name": "m", "type": {"type": "map", "values": ["null", "string"]}},
            {"name": "a", "type": {"type": "array", "items": {"type": "array", "items": "long"}}},
            {
                "name": "u",
                "type": [
                    "null",
                    "string",
                    {"type": "record", "name": "r", "fields": [{"name": "z", "type": "double"}]},
                ],
            },
        ],
    }
    record = {
        "b": True,
        "i": -5,
        "l": 1 << 60,
        "f": 1.5,
        "d": 2.5,
        "s": "é" * 300,
        "y": b"\x00" * 70000,
        "x": b"abcd",
        "e": "B",
        "m": {"k": "v", "n": None},
        "a": [[1, 2], [], [3]],
        "u": {"z": 1.0},
    }
    out = io.BytesIO()
    for _ in range(3):
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    raw = out.getvalue()
    assert RecordFramer(schema).split(raw, 3)[-1] == len(raw)


def test_framer_rejects_leftover_bytes_and_bad_unions() -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "u", "type": ["null", "long"]}]}
    framer = RecordFramer(schema)
    assert framer.split(b"\x02\x04\x00", 2) == [2, 3]
    with pytest.raises(FrameError) as leftover:
        framer.split(b"\x02\x04\x00", 1)
    assert leftover.value.index == 1 and "left over" in str(leftover.value)
    with pytest.raises(FrameError) as union:
        framer.split(b"\x00\x08", 2)
    assert union.value.index == 1 and union.value.ends == [1]


def test_container_round_trip_and_truncation() -> None:
    schema = json.dumps({"type": "record", "name": "r", "fields": [{"name": "v", "type": "long"}]}).encode()
    data = b"".join(container_bytes(schema, [(2, b"\x02\x04"), (1, b"\x06")]))
    assert list(fastavro.reader(io.BytesIO(data))) == [{"v": 1}, {"v": 2}, {"v": 3}]
    parsed = parse_container(data)
    assert parsed.n_records == 3 and parsed.codec == "null"
    for cut, code in ((len(data) - 1, "truncated"), (10, "truncated")):
        with pytest.raises(DecodeError) as err:
            parse_container(data[:cut])
        assert err.value.code == code


def test_inlining_resolves_references_across_namespaces() -> None:
    cutout = {
        "type": "record",
        "name": "cutout",
        "namespace": "ztf.alert",
        "fields": [{"name": "f", "type": "string"}],
    }
    schema = {
        "type": "record",
        "name": "alert",
        "namespace": "ztf",
        "fields": [
            {"name": "a", "type": ["null", cutout]},
            {"name": "b", "type": ["null", "ztf.alert.cutout"]},
        ],
    }
    inlined = inline_named_types(schema)
    second = inlined["fields"][1]["type"][1]
    assert second["fields"] == cutout["fields"] and second["name"] != inlined["fields"][0]["type"][1]["name"]
    fastavro.parse_schema(inlined)  # still a valid schema: the copy has its own name


def test_varints_of_every_length_frame_as_fastavro_reads_them() -> None:
    schema = {
        "type": "record",
        "name": "v",
        "fields": [
            {"name": "l", "type": "long"},
            {"name": "u", "type": ["null", "long"]},
            {"name": "f", "type": {"type": "fixed", "name": "f9", "size": 9}},
        ],
    }
    values = [0, -1, 63, -64, 64, 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63)]
    values += [sign * 2**k for k in range(0, 63, 7) for sign in (1, -1)]
    records = [{"l": v, "u": -v if abs(v) < 2**63 - 1 else None, "f": b"123456789"} for v in values]
    out = io.BytesIO()
    for record in records:
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    raw = out.getvalue()
    stream = io.BytesIO(raw)
    expected = []
    for _ in records:
        fastavro.schemaless_reader(stream, fastavro.parse_schema(schema))
        expected.append(stream.tell())
    framer = RecordFramer(schema)
    assert framer.split(raw, len(records)) == expected
    assert framer.split(b"\xff" * 9 + b"\x01" + b"\x00" + b"x" * 9, 1) == [20]  # 10 bytes: the longest
    with pytest.raises(FrameError):
        framer.split(b"\xff" * 10 + b"\x01" + b"\x00" + b"x" * 9, 1)  # 11 bytes
