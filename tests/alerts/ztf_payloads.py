"""Helpers building Avro payloads with fastavro (the reference writer) for the decoder tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro

SCHEMA_402 = (
    Path(__file__).resolve().parents[2] / "siskin" / "alerts" / "schemas" / "ztf" / "4.02" / "alert.avsc"
)


def encode(records: list[dict[str, Any]], schema: dict[str, Any], codec: str = "null") -> bytes:
    """An Avro container of `records` written by fastavro."""
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), records, codec=codec)
    return out.getvalue()


def datum(record: dict[str, Any], schema: dict[str, Any]) -> bytes:
    """One record as a schemaless Avro datum (what a Confluent frame or a bare Kafka value carries)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()
