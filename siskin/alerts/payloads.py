"""Payload envelopes (Avro container, Confluent frame, schemaless datum) and the writer-schema cache.

Every payload is turned into its writer schema plus raw (decompressed) record blocks, or a
`DecodeError` whose code becomes the reject reason. Nothing here decodes record values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from siskin.alerts.avro_container import MAGIC, Buffer, count_records, decompress, parse_container
from siskin.alerts.avro_fields import LeadingFields
from siskin.alerts.avro_framer import RecordFramer
from siskin.alerts.avro_schema import full_name, inline_named_types
from siskin.alerts.registry import SurveyCodec, codec_for, codec_naming
from siskin.config import DecodeSettings
from siskin.errors import DecodeError

Envelope = Literal["container", "confluent", "schemaless"]
_CACHE_MAX = 256
# Inflation is bounded per payload (see `inflation_budget`): honest alert blocks compress far less than
# 64:1 (cutouts are already gzip), and more than 64 alerts' worth of one compressed payload is refused.
INFLATE_RATIO_MAX = 64
TRUSTED_RECORDS_MAX = 64


@dataclass
class WriterSchema:
    """One parsed writer schema: its name and version, inlined JSON for DataFusion, its survey codec."""

    name: str
    version: str | None
    parsed: dict[str, Any]
    inlined_json: bytes
    key: str
    codec: SurveyCodec | None
    _framer: RecordFramer | None = field(default=None, repr=False)
    _fields: LeadingFields | None = field(default=None, repr=False)

    @property
    def framer(self) -> RecordFramer:
        """Record-boundary finder, compiled on first use (tens of milliseconds, then cached)."""
        if self._framer is None:
            self._framer = RecordFramer(self.parsed)
        return self._framer

    @property
    def leading_fields(self) -> LeadingFields:
        """Reader of the codec's peek fields (ids, version, time) from a record's first bytes."""
        if self._fields is None:
            assert self.codec is not None, "only alert schemas have peek fields"
            self._fields = LeadingFields(self.parsed, self.codec.peek_fields)
        return self._fields


_SCHEMAS: dict[bytes, WriterSchema] = {}


def writer_schema(raw: bytes) -> WriterSchema:
    """Parse, inline and classify a writer schema; cached by its exact bytes."""
    cached = _SCHEMAS.get(raw)
    if cached is not None:
        return cached
    try:
        parsed = inline_named_types(json.loads(raw))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise DecodeError("corrupt_avro", f"writer schema is not a valid Avro schema: {exc}") from exc
    version: str | None = None
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        kind = parsed.get("type") if isinstance(parsed, dict) else parsed
        codec = None
        name = str(kind)
    else:
        codec = codec_for(parsed)
        name = full_name(parsed)
        if codec is not None:
            version = codec.writer_version(parsed)
        elif parsed.get("version") is not None:
            version = str(parsed["version"])
    inlined = json.dumps(parsed, separators=(",", ":")).encode()
    schema = WriterSchema(
        name=name,
        version=version,
        parsed=parsed,
        inlined_json=inlined,
        key=hashlib.sha1(inlined).hexdigest()[:16],
        codec=codec,
    )
    if len(_SCHEMAS) >= _CACHE_MAX:
        _SCHEMAS.clear()
    _SCHEMAS[raw] = schema
    return schema


@dataclass
class Unpacked:
    """A payload's writer schema and its record blocks as (count, raw bytes)."""

    envelope: Envelope
    schema: WriterSchema
    blocks: list[tuple[int, Buffer]]

    @property
    def n_records(self) -> int:
        """Records the payload declares."""
        return sum(count for count, _ in self.blocks)


def unpack(
    data: bytes | None, settings: DecodeSettings, codec: SurveyCodec, *, peek: bool = False
) -> Unpacked:
    """Recognise the envelope, check sizes and the writer schema, and decompress the blocks.

    The survey is recognised from the writer schema (containers) or the configured schema version
    (Confluent frames); `codec` is the one assumed for schemaless payloads. With `peek`, only the
    first non-empty block of a container is inflated.
    """
    if not data:
        raise DecodeError("not_avro", "payload is empty or null")
    limit = settings.max_alert_bytes
    if data[:4] == MAGIC:
        return _unpack_container(data, limit, peek)
    if len(data) > limit:
        raise DecodeError("oversized", f"payload of {len(data)} bytes exceeds max_alert_bytes={limit}")
    if data[0] == 0 and len(data) >= 5:
        schema_id = int.from_bytes(data[1:5], "big")
        version = settings.confluent_schema_ids.get(str(schema_id))
        if version is None:
            known = ", ".join(sorted(settings.confluent_schema_ids)) or "none configured"
            raise DecodeError(
                "unknown_confluent_schema_id",
                f"Confluent schema id {schema_id} is not in decode.confluent_schema_ids (known: {known})",
            )
        framed = codec_naming(version, codec)
        datum = memoryview(data)[5:]  # no copy of the record bytes
        return Unpacked("confluent", _bundled(framed, version, "Confluent schema id", settings), [(1, datum)])
    version = codec.default_version(settings)
    return Unpacked("schemaless", _bundled(codec, version, "default schema version", settings), [(1, data)])


def _bundled(codec: SurveyCodec, version: str, origin: str, settings: DecodeSettings) -> WriterSchema:
    raw = codec.bundled_schema(version, settings)
    if raw is None:
        raise DecodeError(
            "unknown_schema_version", f"{origin} maps to {codec.name} schema {version}, which is not bundled"
        )
    return writer_schema(raw)


def inflation_budget(payload_size: int, declared_records: int, limit: int) -> int:
    """Most bytes a container's blocks may inflate to, all blocks together: a bound on a worker's memory.

    `limit` (max_alert_bytes) per declared record, but record counts are the writer's word: the budget is
    also held to `INFLATE_RATIO_MAX` times the payload's size (never below one alert's `limit`) and to
    `TRUSTED_RECORDS_MAX` alerts, so a few hundred bytes claiming a million records inflate to one limit.
    """
    by_ratio = max(limit, INFLATE_RATIO_MAX * payload_size)
    return min(limit * max(1, declared_records), by_ratio, limit * TRUSTED_RECORDS_MAX)


def _unpack_container(data: bytes, limit: int, peek: bool) -> Unpacked:
    if len(data) > limit:
        declared = max(1, count_records(data))
        if len(data) > limit * declared:
            message = f"payload of {len(data)} bytes exceeds max_alert_bytes={limit} x {declared} record(s)"
            raise DecodeError("oversized", message)
    container = parse_container(data)
    schema = writer_schema(container.schema)
    if schema.codec is None:
        raise DecodeError("unknown_schema", f"writer schema {schema.name!r} is not a known alert schema")
    if container.n_records == 0:
        raise DecodeError("truncated", "container holds no records (header only)")
    blocks = container.blocks
    if container.codec == "null":  # nothing to inflate: each block is only held to its own records
        budget = sum(limit * max(1, count) for count, _ in blocks)
    else:
        budget = inflation_budget(len(data), container.n_records, limit)
    # with `peek`, only the first non-empty block is inflated; the counts of the others give n_alerts
    first = next(i for i, (count, _) in enumerate(blocks) if count)
    raw: list[tuple[int, Buffer]] = []
    left = budget
    for i, (count, block) in enumerate(blocks):
        if peek and i != first:
            raw.append((count, b""))
            continue
        own = limit * max(1, count)
        allowed = min(own, left)
        try:
            inflated = decompress(container.codec, block, allowed)
        except DecodeError as exc:
            if exc.code == "oversized" and allowed < own:
                raise DecodeError(
                    "oversized",
                    f"{container.codec} blocks inflate past {budget} bytes in all (max_alert_bytes={limit}, "
                    f"{container.n_records} declared record(s), payload of {len(data)} bytes)",
                ) from exc
            raise
        left -= len(inflated)
        raw.append((count, inflated))
    return Unpacked("container", schema, raw)


def payload_views(payloads: pa.BinaryArray | pa.LargeBinaryArray) -> list[memoryview | None]:
    """Zero-copy views of each payload in an Arrow binary array (None for nulls).

    `to_pylist()` would copy every payload into a new bytes object: for 50 KB alerts that copy
    costs as much as the peek itself.
    """
    import numpy as np

    arr = payloads.combine_chunks() if isinstance(payloads, pa.ChunkedArray) else payloads
    validity, offsets_buf, data_buf = arr.buffers()[:3]
    if data_buf is None:
        return [None if v is None else memoryview(b"") for v in arr.to_pylist()]
    width = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = memoryview(data_buf)
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
    views: list[memoryview | None] = []
    for i, (lo, hi) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)):
        views.append(None if valid is not None and not valid[i] else data[lo:hi])
    return views
