"""Avro for the filter topics: one schema per topic derived from the silver Arrow schema, and the encoders.

Every field is nullable (`["null", T]`, default null) because silver columns are; nested structs become
records named after their path so names stay unique. Two framings: Confluent (magic byte 0, a 4-byte
big-endian schema id, then schemaless Avro) and fink-client's (the writer schema as JSON in the message
key, schemaless Avro in the value).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
from typing import Any

import pyarrow as pa

from siskin.errors import ConfigurationError

_NAME = re.compile(r"[^A-Za-z0-9_]")
CONFLUENT_MAGIC = b"\x00"


def _avro_name(text: str) -> str:
    name = _NAME.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


def _avro_type(dtype: pa.DataType, path: str) -> Any:
    """The Avro type (non-null) of one Arrow type; `path` names nested records uniquely."""
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype):
        return "long" if dtype.bit_width > 32 or dtype == pa.uint32() else "int"
    if pa.types.is_float16(dtype) or pa.types.is_float32(dtype):
        return "float"
    if pa.types.is_float64(dtype):
        return "double"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytes"
    if pa.types.is_timestamp(dtype):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if pa.types.is_date32(dtype):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_dictionary(dtype):
        return _avro_type(dtype.value_type, path)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        # items are not nullable: a union around each item record costs fastavro a full validation per item
        return {"type": "array", "items": _avro_type(dtype.value_type, f"{path}_item")}
    if pa.types.is_map(dtype):
        return {"type": "map", "values": _nullable(_avro_type(dtype.item_type, f"{path}_value"))}
    if pa.types.is_struct(dtype):
        return {
            "type": "record",
            "name": _avro_name(path),
            "fields": [
                _field(dtype.field(i), f"{path}_{dtype.field(i).name}") for i in range(dtype.num_fields)
            ],
        }
    raise ConfigurationError(f"column {path!r} has Arrow type {dtype}, which has no Avro mapping here")


def _nullable(avro: Any) -> list[Any]:
    return ["null", avro]


def _field(field: pa.Field, path: str) -> dict[str, Any]:
    return {"name": field.name, "type": _nullable(_avro_type(field.type, path)), "default": None}


def avro_schema(schema: pa.Schema, name: str, namespace: str, doc: str = "") -> dict[str, Any]:
    """The Avro record schema (as JSON data) of rows with this Arrow schema."""
    for f in schema:
        if _avro_name(f.name) != f.name:
            raise ConfigurationError(f"column {f.name!r} is not a valid Avro field name")
    record = _avro_name(name)
    out: dict[str, Any] = {"type": "record", "name": record, "namespace": namespace}
    if doc:
        out["doc"] = doc
    out["fields"] = [_field(f, f"{record}_{f.name}") for f in schema]
    return out


def schema_json(schema: dict[str, Any]) -> str:
    """Canonical text of a schema (sorted keys, no spaces): what is published and hashed."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def schema_id(schema: dict[str, Any]) -> int:
    """A stable positive 31-bit id for a schema (its text's hash): the Confluent framing's schema id."""
    return int.from_bytes(hashlib.sha256(schema_json(schema).encode()).digest()[:4], "big") & 0x7FFFFFFF


def parse(schema: dict[str, Any]) -> Any:
    """fastavro's parsed form of a schema."""
    import fastavro

    return fastavro.parse_schema(schema)


def encode_rows(table: pa.Table, parsed: Any) -> list[bytes]:
    """Schemaless Avro bytes of every row (fastavro per row: the filtered streams are low-rate)."""
    import fastavro

    out: list[bytes] = []
    buffer = io.BytesIO()
    for row in table.to_pylist():
        buffer.seek(0)
        buffer.truncate()
        fastavro.schemaless_writer(buffer, parsed, row)
        out.append(buffer.getvalue())
    return out


def confluent_frame(schema_identifier: int, payload: bytes) -> bytes:
    """Confluent wire format: magic byte 0, 4-byte big-endian schema id, the Avro body."""
    return CONFLUENT_MAGIC + struct.pack(">I", schema_identifier) + payload


def confluent_unframe(message: bytes) -> tuple[int, bytes]:
    """The schema id and Avro body of a Confluent-framed message."""
    if len(message) < 5 or message[:1] != CONFLUENT_MAGIC:
        raise ValueError("not a Confluent-framed Avro message (no magic byte 0)")
    return struct.unpack(">I", message[1:5])[0], message[5:]


def decode(body: bytes, parsed: Any) -> dict[str, Any]:
    """One schemaless Avro record."""
    import fastavro

    record = fastavro.schemaless_reader(io.BytesIO(body), parsed)
    assert isinstance(record, dict)
    return record
