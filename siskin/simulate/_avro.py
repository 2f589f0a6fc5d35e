"""A columnar Avro encoder for flat records, and container-file framing.

Encoding alert histories record by record (a dict per row, then fastavro) would cost more than all
the rest of the simulator; flat records of primitives and ["null", primitive] unions can instead be
encoded a column at a time with numpy into one byte string plus row offsets, so that an alert's
history (a contiguous run of rows) is one slice. Tests check every record against fastavro.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from siskin.alerts.avro_container import MAGIC, encode_long

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def encode_bytes(data: bytes) -> bytes:
    """Length-prefixed bytes (Avro `bytes` and `string`)."""
    return encode_long(len(data)) + data


def container_header(schema: Mapping[str, Any], sync: bytes) -> bytes:
    """Object container header: magic, metadata map (codec null, schema JSON), sync marker."""
    meta = {"avro.codec": b"null", "avro.schema": json.dumps(schema, separators=(",", ":")).encode()}
    body = b"".join(encode_bytes(k.encode()) + encode_bytes(v) for k, v in meta.items())
    return MAGIC + encode_long(len(meta)) + body + b"\x00" + sync


def container_block(record: bytes, sync: bytes) -> bytes:
    """One data block holding one encoded record."""
    return b"\x02" + encode_long(len(record)) + record + sync


@dataclass(frozen=True)
class FlatField:
    """One field of a flat record: primitive type and, for ["null", T] unions, null's branch index."""

    name: str
    kind: str
    null_branch: int | None


def flat_fields(record_schema: Mapping[str, Any]) -> list[FlatField]:
    """The fields of a flat record schema (primitives or unions of null and one primitive)."""
    out = []
    for field in record_schema["fields"]:
        kind = field["type"]
        if isinstance(kind, list):
            branches = [b for b in kind if b != "null"]
            if len(branches) != 1 or not isinstance(branches[0], str):
                raise TypeError(f"field {field['name']!r} is not a nullable primitive")
            out.append(FlatField(field["name"], branches[0], kind.index("null")))
        else:
            out.append(FlatField(field["name"], kind, None))
    return out


def _varints(values: npt.ArrayLike) -> tuple[U8, I64]:
    """Zigzag varints of int64 values as a (n, width) byte matrix and lengths."""
    v = np.asarray(values, dtype=np.int64)
    z = ((v << 1) ^ (v >> 63)).astype(np.uint64)
    lens = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        lens += z >= np.uint64(1 << (7 * k))
    width = int(lens.max()) if len(v) else 1
    groups = np.stack([(z >> np.uint64(7 * k)) & np.uint64(0x7F) for k in range(width)], axis=1)
    groups = groups.astype(np.uint8)
    groups |= ((np.arange(width)[None, :] < (lens - 1)[:, None]) * 0x80).astype(np.uint8)
    return groups, lens


def _strings(values: Any, null: npt.NDArray[np.bool_]) -> list[tuple[U8, I64]]:
    """Length prefix and bytes of strings (a list, or a numpy bytes/str array)."""
    if isinstance(values, np.ndarray):
        arr = values.astype("S") if values.dtype.kind == "U" else values
    else:
        arr = np.array([b"" if v is None else v for v in values], dtype="S")
    n = len(arr)
    width = arr.dtype.itemsize if n else 0
    body = arr.view(np.uint8).reshape(n, width) if width else np.zeros((n, 0), dtype=np.uint8)
    lens = (body != 0).sum(axis=1) if width else np.zeros(n, dtype=np.int64)
    lens = np.where(null, 0, lens)
    prefix, plens = _varints(lens)
    return [(prefix, np.where(null, 0, plens)), (body, lens)]


def _ragged(parts: list[tuple[U8, I64]], n: int) -> U8:
    """Row-major concatenation of the valid leading bytes of every part."""
    if not parts:
        return np.zeros(0, dtype=np.uint8)
    mats = np.hstack([p[0] for p in parts])
    masks = np.hstack([np.arange(p[0].shape[1])[None, :] < p[1][:, None] for p in parts])
    return mats[masks]


def _column(field: FlatField, value: Any, n: int, null: npt.NDArray[np.bool_]) -> list[tuple[U8, I64]]:
    """Encode one column: the union branch byte, then the value for non-null rows."""
    parts: list[tuple[U8, I64]] = []
    if field.null_branch is not None:
        null_byte, value_byte = 2 * field.null_branch, 2 * (1 - field.null_branch)
        parts.append((np.where(null, null_byte, value_byte).astype(np.uint8)[:, None], np.ones(n, np.int64)))
    elif null.any():
        raise ValueError(f"field {field.name!r} is not nullable but has nulls")
    valid_len = ~null
    if field.kind in ("float", "double"):
        arr = np.ascontiguousarray(np.asarray(value, dtype="<f4" if field.kind == "float" else "<f8"))
        parts.append((arr.reshape(n).view(np.uint8).reshape(n, arr.itemsize), valid_len * arr.itemsize))
    elif field.kind in ("int", "long"):
        mat, lens = _varints(np.where(null, 0, np.asarray(value, dtype=np.int64)))
        parts.append((mat, np.where(null, 0, lens)))
    elif field.kind in ("string", "bytes"):
        parts.extend(_strings(value, null))
    elif field.kind == "boolean":
        parts.append((np.asarray(value, dtype=np.uint8).reshape(n, 1), valid_len.astype(np.int64)))
    else:
        raise TypeError(f"unsupported Avro type {field.kind!r} for {field.name!r}")
    return parts


def encode_rows(
    fields: list[FlatField], n: int, columns: Mapping[str, Any], nulls: Mapping[str, Any] | None = None
) -> tuple[bytes, I64]:
    """Encode `n` records column-wise; returns all records' bytes and the n + 1 row offsets.

    A field missing from `columns` is null in every row; `nulls[name]` marks null rows of a field.
    """
    nulls = nulls or {}
    parts: list[tuple[U8, I64]] = []
    no_nulls = np.zeros(n, dtype=bool)
    for field in fields:
        if field.name in columns:
            null = np.asarray(nulls.get(field.name, no_nulls), dtype=bool).reshape(n)
            parts.extend(_column(field, columns[field.name], n, null))
        else:
            parts.extend(_column(field, np.zeros(n), n, np.ones(n, dtype=bool)))
    lens = np.sum([p[1] for p in parts], axis=0) if parts else np.zeros(n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return _ragged(parts, n).tobytes(), offsets
