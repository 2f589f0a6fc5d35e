"""Read a few leading fields of Avro records (ids, version, time) without decoding the rest.

Used by the bronze peek: the fields it needs sit near the start of an alert, so everything before
them is skipped and nothing after them is touched. `LeadingFields.read` reads one record (the
reference); `LeadingFields.read_columns` reads the same fields of many records at once with numpy,
straight from an Arrow binary buffer, and leaves any record it is not sure about to `read`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.alerts.avro_container import Buffer
from siskin.alerts.avro_framer import RecordFramer
from siskin.alerts.avro_schema import record_fields

Path = tuple[str, ...]

# What a column-wise read found at a path, per record (`read` returns None for NULL and absent).
NULL, STRING, BYTES, INT, FLOAT, BOOL = range(6)
_MAX_VARINT = 10
_FIXED_SIZES = {"float": 4, "double": 8}


def _varint(buf: Buffer, p: int) -> tuple[int, int]:
    acc = shift = 0
    while True:
        b = buf[p]
        p += 1
        acc |= (b & 0x7F) << shift
        if b < 0x80:
            return (acc >> 1) ^ -(acc & 1), p
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def read_value(schema: Any, buf: Buffer, p: int) -> tuple[Any, int]:
    """One primitive value (or a union of primitives) at `p`; TypeError for complex types."""
    if isinstance(schema, list):
        index, p = _varint(buf, p)
        if not 0 <= index < len(schema):
            raise ValueError(f"union branch {index} does not exist")
        return read_value(schema[index], buf, p)
    if isinstance(schema, dict):
        return read_value(schema["type"], buf, p)
    if schema == "null":
        return None, p
    if schema in ("int", "long"):
        return _varint(buf, p)
    if schema == "boolean":
        return buf[p] == 1, p + 1
    if schema == "float":
        return struct.unpack_from("<f", buf, p)[0], p + 4
    if schema == "double":
        return struct.unpack_from("<d", buf, p)[0], p + 8
    if schema in ("string", "bytes"):
        size, p = _varint(buf, p)
        if size < 0 or p + size > len(buf):
            raise ValueError(f"length {size} runs past the end of the data")
        raw = bytes(buf[p : p + size])
        return (raw.decode("utf-8") if schema == "string" else raw), p + size
    raise TypeError(f"cannot read a value of Avro type {schema!r}")


def varints(data: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zigzag varints at byte offsets `pos` of `data`, each bounded by `end`: (values, next pos, ok).

    `ok` is False where the varint does not end within 10 bytes and before `end`, or does not fit in
    64 bits; values there are meaningless.
    """
    if len(pos) == 0:
        return pos.astype(np.int64), pos.astype(np.int64), np.ones(0, bool)
    last = len(data) - 1
    idx = np.minimum(pos[:, None] + np.arange(_MAX_VARINT), max(last, 0))
    raw = data[idx] if len(data) else np.zeros(idx.shape, np.uint8)
    stop = raw < 0x80
    length = np.argmax(stop, axis=1) + 1
    ok = stop.any(axis=1) & (pos + length <= end) & ~((length == _MAX_VARINT) & (raw[:, -1] > 1))
    used = np.arange(_MAX_VARINT) < length[:, None]
    parts = (raw & 0x7F).astype(np.uint64) << (7 * np.arange(_MAX_VARINT, dtype=np.uint64))
    acc = np.bitwise_or.reduce(np.where(used, parts, np.uint64(0)), axis=1)
    values = ((acc >> np.uint64(1)) ^ (np.uint64(0) - (acc & np.uint64(1)))).view(np.int64)
    return values, pos + length, ok


@dataclass
class FieldColumn:
    """One path read column-wise: the kind found per record (NULL for absent) and its value."""

    kind: np.ndarray  # int8, one of NULL, STRING, BYTES, INT, FLOAT, BOOL
    ints: np.ndarray  # int64 where kind is INT or BOOL (0/1)
    floats: np.ndarray  # float64 where kind is FLOAT
    texts: pa.LargeBinaryArray  # the raw bytes where kind is STRING (valid UTF-8) or BYTES, else null


@dataclass
class FieldColumns:
    """What `LeadingFields.read_columns` found: the columns, and which records it is sure about."""

    ok: np.ndarray
    columns: dict[Path, FieldColumn]


class Unsupported(Exception):
    """The plan holds a step `read_columns` does not run column-wise (arrays, maps, complex values)."""


class _Cursor:
    """Per-record read positions over one data buffer; rows it cannot read column-wise lose `ok`."""

    def __init__(self, data: np.ndarray, pos: np.ndarray, end: np.ndarray) -> None:
        self.data = data
        self.pos = pos.astype(np.int64, copy=True)
        self.end = end.astype(np.int64, copy=False)
        self.ok = np.ones(len(pos), bool)

    def live(self, rows: np.ndarray) -> np.ndarray:
        return rows[self.ok[rows]]

    def varint(self, rows: np.ndarray) -> np.ndarray:
        values, after, ok = varints(self.data, self.pos[rows], self.end[rows])
        self.ok[rows[~ok]] = False
        self.pos[rows] = after
        return values

    def advance(self, rows: np.ndarray, size: np.ndarray | int) -> None:
        after = self.pos[rows] + size
        self.ok[rows[after > self.end[rows]]] = False
        self.pos[rows] = after

    def byte(self, rows: np.ndarray) -> np.ndarray:
        """The byte at each row's position (the position advances by one)."""
        at = self.pos[rows]
        inside = at < self.end[rows]
        self.ok[rows[~inside]] = False
        self.pos[rows] = at + 1
        return self.data[np.where(inside, at, 0)] if len(self.data) else np.zeros(len(rows), np.uint8)

    def union(self, rows: np.ndarray, branches: int) -> np.ndarray:
        """Branch index per row; only the canonical one-byte encoding of a valid index counts as sure."""
        raw = self.byte(rows).astype(np.int64)
        self.ok[rows[(raw >= 0x80) | (raw & 1 == 1) | (raw >> 1 >= branches)]] = False
        return raw >> 1

    def fixed(self, rows: np.ndarray, size: int) -> np.ndarray:
        """`size` raw bytes per row (rows past their end are marked, their bytes are meaningless)."""
        at = self.pos[rows]
        self.advance(rows, size)
        idx = np.clip(at[:, None] + np.arange(size), 0, max(len(self.data) - 1, 0))
        return self.data[idx] if len(self.data) else np.zeros((len(rows), size), np.uint8)


def _unwrap(schema: Any) -> Any:
    while isinstance(schema, dict) and isinstance(schema.get("type"), (list, dict)):
        schema = schema["type"]
    return schema


def _primitive(schema: Any) -> Any:
    """`read_value`'s view of a schema: a dict stands for its `type`."""
    while isinstance(schema, dict):
        schema = schema["type"]
    return schema


def _check_value(schema: Any) -> None:
    kind = _primitive(schema)
    if isinstance(kind, list):
        for branch in kind:
            _check_value(branch)
    elif kind not in ("null", "int", "long", "boolean", "float", "double", "string", "bytes"):
        raise Unsupported(f"a value of Avro type {kind!r}")


def _check_skip(schema: Any) -> None:
    schema = _unwrap(schema)
    if isinstance(schema, list):
        for branch in schema:
            _check_skip(branch)
        return
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind in ("record", "error"):
        for field in schema.get("fields", []):
            _check_skip(field["type"])
    elif kind in ("array", "map") or kind not in (*_SKIPPABLE, "enum", "fixed"):
        raise Unsupported(f"skipping Avro type {kind!r}")


_SKIPPABLE = ("null", "boolean", "int", "long", "float", "double", "string", "bytes")


def _skip(schema: Any, cur: _Cursor, rows: np.ndarray) -> None:
    """Advance past one value of `schema` (as the framer's exact program would) in every row."""
    rows = cur.live(rows)
    if not len(rows):
        return
    schema = _unwrap(schema)
    if isinstance(schema, list):
        index = cur.union(rows, len(schema))
        for i, branch in enumerate(schema):
            _skip(branch, cur, rows[index == i])
        return
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind in ("record", "error"):
        for field in schema.get("fields", []):
            _skip(field["type"], cur, rows)
    elif kind in ("int", "long", "enum"):
        cur.varint(rows)
    elif kind in ("string", "bytes"):
        size = cur.varint(rows)
        cur.ok[rows[size < 0]] = False
        cur.advance(rows, np.maximum(size, 0))
    elif kind == "boolean":
        cur.ok[rows[cur.byte(rows) > 1]] = False
    elif kind == "fixed":
        cur.advance(rows, int(schema["size"]))
    elif kind in _FIXED_SIZES:
        cur.advance(rows, _FIXED_SIZES[kind])


class _Reading:
    """Column buffers of one path while it is read."""

    def __init__(self, n: int) -> None:
        self.kind = np.zeros(n, np.int8)
        self.ints = np.zeros(n, np.int64)
        self.floats = np.zeros(n, np.float64)
        self.start = np.zeros(n, np.int64)
        self.size = np.zeros(n, np.int64)

    def read(self, schema: Any, cur: _Cursor, rows: np.ndarray) -> None:
        rows = cur.live(rows)
        if not len(rows):
            return
        kind = _primitive(schema)
        if isinstance(kind, list):
            index = cur.union(rows, len(kind))
            for i, branch in enumerate(kind):
                self.read(branch, cur, rows[index == i])
        elif kind in ("int", "long"):
            self.ints[rows] = cur.varint(rows)
            self.kind[rows] = INT
        elif kind == "boolean":
            self.ints[rows] = cur.byte(rows) == 1
            self.kind[rows] = BOOL
        elif kind in _FIXED_SIZES:
            raw = np.ascontiguousarray(cur.fixed(rows, _FIXED_SIZES[kind]))
            self.floats[rows] = raw.view("<f4" if kind == "float" else "<f8")[:, 0]
            self.kind[rows] = FLOAT
        elif kind in ("string", "bytes"):
            size = cur.varint(rows)
            cur.ok[rows[size < 0]] = False
            self.start[rows] = cur.pos[rows]
            self.size[rows] = np.maximum(size, 0)
            cur.advance(rows, self.size[rows])
            self.kind[rows] = STRING if kind == "string" else BYTES

    def column(self, data: np.ndarray, ok: np.ndarray) -> FieldColumn:
        """The finished column; a string that is not UTF-8 turns its row's kind to -1 (`read` raises)."""
        kind = np.where(ok, self.kind, NULL).astype(np.int8)
        texts = gather_bytes(data, self.start, np.where((kind == STRING) | (kind == BYTES), self.size, -1))
        strings = kind == STRING
        if strings.any():
            checked = pc.if_else(pa.array(strings), texts, pa.scalar(None, pa.large_binary()))
            try:
                checked.cast(pa.large_string())
            except pa.ArrowInvalid:
                for i in np.flatnonzero(strings):  # rare: find the rows that are not UTF-8
                    try:
                        texts[int(i)].as_py().decode("utf-8")
                    except UnicodeDecodeError:
                        kind[i] = -1
        return FieldColumn(kind, self.ints, self.floats, texts)


def gather_bytes(data: np.ndarray, start: np.ndarray, size: np.ndarray) -> pa.LargeBinaryArray:
    """`data[start:start + size]` per row as one Arrow array, null where `size` is negative."""
    valid = size >= 0
    size = np.where(valid, size, 0)
    offsets = np.zeros(len(size) + 1, np.int64)
    np.cumsum(size, out=offsets[1:])
    total = int(offsets[-1])
    raw = data[np.repeat(start - offsets[:-1], size) + np.arange(total)] if total else np.zeros(0, np.uint8)
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    array = pa.Array.from_buffers(
        pa.large_binary(), len(size), [validity, pa.py_buffer(offsets), pa.py_buffer(raw)]
    )
    assert isinstance(array, pa.LargeBinaryArray)
    return array


class LeadingFields:
    """A compiled plan reading `paths` (e.g. ("candidate", "jd")) from records of one writer schema."""

    def __init__(self, schema: Any, paths: Iterable[Path]) -> None:
        self.paths = tuple(paths)
        self._plan = self._compile(schema, (), set(self.paths), read_to_end=False)
        try:
            self._check(self._plan)
            self.columnar = True
        except Unsupported:
            self.columnar = False

    def read(self, buf: Buffer) -> dict[Path, Any]:
        """Values of the wanted paths in the record at the start of `buf` (absent paths are None)."""
        out: dict[Path, Any] = dict.fromkeys(self.paths)
        self._run(self._plan, buf, 0, out)
        return out

    def read_columns(self, data: np.ndarray, pos: np.ndarray, end: np.ndarray) -> FieldColumns:
        """The wanted paths of the records at `data[pos:end]`, column-wise; Unsupported if not columnar.

        Every row marked `ok` holds exactly what `read` returns for it; rows not marked (a corrupt
        record, an unusual encoding) are left to `read`.
        """
        if not self.columnar:
            raise Unsupported("this writer schema's leading fields are not read column-wise")
        cur = _Cursor(data, pos, end)
        readings = {path: _Reading(len(pos)) for path in self.paths}
        self._run_columns(self._plan, cur, np.arange(len(pos)), readings)
        columns = {path: r.column(data, cur.ok) for path, r in readings.items()}
        ok = cur.ok.copy()
        for column in columns.values():
            ok &= column.kind >= 0
        return FieldColumns(ok, columns)

    def _compile(self, schema: Any, prefix: Path, wanted: set[Path], read_to_end: bool) -> list[tuple]:
        fields = record_fields(schema)
        heads = {w[: len(prefix) + 1] for w in wanted}
        needed = [i for i, f in enumerate(fields) if (*prefix, f["name"]) in heads]
        stop = len(fields) if read_to_end else (needed[-1] + 1 if needed else 0)
        plan: list[tuple] = []
        for i, field in enumerate(fields[:stop]):
            path = (*prefix, field["name"])
            if path in wanted:
                plan.append(("value", path, field["type"]))
            elif i in needed and record_fields(field["type"]):
                inner = self._compile(field["type"], path, wanted, read_to_end=i < stop - 1 or read_to_end)
                plan.append(("record", field["type"], inner))
            else:
                plan.append(("skip", RecordFramer(field["type"]), field["type"]))
        return plan

    def _check(self, plan: list[tuple]) -> None:
        for step in plan:
            if step[0] == "value":
                _check_value(step[2])
            elif step[0] == "skip":
                _check_skip(step[2])
            else:
                field_type = step[1]
                if isinstance(field_type, list) and sum(b != "null" for b in field_type) != 1:
                    raise Unsupported("a union of several records")
                self._check(step[2])

    def _run(self, plan: list[tuple], buf: Buffer, p: int, out: dict[Path, Any]) -> int:
        for step in plan:
            if step[0] == "value":
                out[step[1]], p = read_value(step[2], buf, p)
            elif step[0] == "skip":
                p = step[1].record_end(buf, p, len(buf))
            else:
                _, field_type, inner = step
                if isinstance(field_type, list):
                    index, p = _varint(buf, p)
                    if not 0 <= index < len(field_type):
                        raise ValueError(f"union branch {index} does not exist")
                    if field_type[index] == "null":
                        continue
                p = self._run(inner, buf, p, out)
        return p

    def _run_columns(
        self, plan: list[tuple], cur: _Cursor, rows: np.ndarray, readings: dict[Path, _Reading]
    ) -> None:
        for step in plan:
            rows = cur.live(rows)
            if not len(rows):
                return
            if step[0] == "value":
                readings[step[1]].read(step[2], cur, rows)
            elif step[0] == "skip":
                _skip(step[2], cur, rows)
            else:
                _, field_type, inner = step
                if isinstance(field_type, list):  # rows on the null branch skip the record's fields
                    index = cur.union(rows, len(field_type))
                    nonnull = np.array([b != "null" for b in field_type])
                    self._run_columns(
                        inner, cur, rows[nonnull[np.minimum(index, len(field_type) - 1)]], readings
                    )
                else:
                    self._run_columns(inner, cur, rows, readings)
