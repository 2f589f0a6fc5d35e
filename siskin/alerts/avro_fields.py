"""Read a few leading fields of one Avro record (ids, version, time) without decoding the rest.

Used by the bronze peek: the fields it needs sit near the start of an alert, so everything before
them is skipped with the framer's compiled programs and nothing after them is touched.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from siskin.alerts.avro_container import Buffer
from siskin.alerts.avro_framer import RecordFramer
from siskin.alerts.avro_schema import record_fields

Path = tuple[str, ...]


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


class LeadingFields:
    """A compiled plan reading `paths` (e.g. ("candidate", "jd")) from records of one writer schema."""

    def __init__(self, schema: Any, paths: Iterable[Path]) -> None:
        self.paths = tuple(paths)
        self._plan = self._compile(schema, (), set(self.paths), read_to_end=False)

    def read(self, buf: Buffer) -> dict[Path, Any]:
        """Values of the wanted paths in the record at the start of `buf` (absent paths are None)."""
        out: dict[Path, Any] = dict.fromkeys(self.paths)
        self._run(self._plan, buf, 0, out)
        return out

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
                plan.append(("skip", RecordFramer(field["type"])))
        return plan

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
