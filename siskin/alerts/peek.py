"""Cheap per-payload metadata for the bronze table, read from the envelope and the first record only.

Most payloads of a batch are single-record Avro containers that share their header (magic, writer
schema, codec) with their neighbours: ZTF publishes one schema per night. Those are recognised for
the whole batch at once (each payload is compared with a header seen in the batch), and their ids are
read column-wise, straight from the Arrow buffer (`LeadingFields.read_columns`). Every other payload
(another envelope, a compressed or multi-block container, anything corrupt or unusual) goes through
`_peek_one`, the reference the column-wise path must agree with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.alerts.avro_container import MAGIC, SYNC_SIZE, parse_header
from siskin.alerts.avro_fields import BOOL, BYTES, FLOAT, INT, STRING, FieldColumns, Unsupported, varints
from siskin.alerts.payloads import WriterSchema, unpack, writer_schema
from siskin.alerts.registry import SurveyCodec, get_codec
from siskin.config import DecodeSettings
from siskin.errors import DecodeError

PEEK_SCHEMA = pa.schema(
    [
        pa.field("survey", pa.string()),
        pa.field("schema_name", pa.string()),
        pa.field("schema_version", pa.string()),
        pa.field("n_alerts", pa.int32()),
        pa.field("object_id", pa.string()),
        pa.field("candid", pa.int64()),
        pa.field("night", pa.int32()),
        pa.field("peek_error", pa.string()),
    ]
)
MAX_HEADERS = 8  # distinct container headers tried per batch; payloads with any other go row by row
_INT32_MAX = 2**31 - 1
_INT64 = (-(2**63), 2**63 - 1)


class _Peeked(NamedTuple):
    """The reference peek of one payload."""

    survey: str | None = None
    schema_name: str | None = None
    schema_version: str | None = None
    n_alerts: int | None = None
    object_id: str | None = None
    candid: int | None = None
    time: float | None = None
    peek_error: str | None = None
    codec: SurveyCodec | None = None


@dataclass
class _Payloads:
    """An Arrow binary array as numpy: the data buffer and each payload's [start, end)."""

    array: pa.Array
    data: np.ndarray
    start: np.ndarray
    end: np.ndarray
    valid: np.ndarray

    @classmethod
    def of(cls, payloads: pa.Array | pa.ChunkedArray) -> _Payloads:
        array = payloads.combine_chunks() if isinstance(payloads, pa.ChunkedArray) else payloads
        _, offsets_buf, data_buf = array.buffers()[:3]
        width = np.int64 if pa.types.is_large_binary(array.type) else np.int32
        n = len(array)
        if offsets_buf is None:
            offsets = np.zeros(n + 1, np.int64)
        else:
            offsets = np.frombuffer(offsets_buf, width)[array.offset : array.offset + n + 1].astype(np.int64)
        data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        valid = array.is_valid().to_numpy(zero_copy_only=False) if array.null_count else np.ones(n, bool)
        return cls(array, data, offsets[:-1], offsets[1:], valid)

    def payload(self, i: int) -> bytes | None:
        """Row `i` as bytes (a copy: only for the payloads the reference path peeks)."""
        return self.data[self.start[i] : self.end[i]].tobytes() if self.valid[i] else None


@dataclass
class _Group:
    """Payloads that start with the same container header (magic, metadata) as a probed one."""

    rows: np.ndarray
    schema: WriterSchema
    header: int  # offset of the first block (the header, sync marker included)


def peek_payloads(
    payloads: pa.BinaryArray | pa.LargeBinaryArray,
    settings: DecodeSettings,
    *,
    survey: str = "ztf",
    columnar: bool = True,
) -> pa.Table:
    """Survey, schema, ids, night and alert count per payload; bad bytes give `peek_error`, never raise.

    The survey is recognised per payload, as in `decode_payloads`; `survey` is assumed for payloads
    that carry no schema. `columnar=False` peeks every payload row by row (the reference).
    """
    default = get_codec(survey)
    found = _Payloads.of(payloads)
    pieces: list[tuple[np.ndarray, pa.Table]] = []
    left = np.ones(len(found.start), bool)
    for group in _container_groups(found, settings) if columnar else ():
        done, table = _peek_group(group, found)
        if len(done):
            pieces.append((done, table))
            left[done] = False
    rest = np.flatnonzero(left)
    if len(rest):
        pieces.append((rest, _peek_rows(rest, found, settings, default)))
    if not pieces:
        return PEEK_SCHEMA.empty_table()
    if len(pieces) == 1:
        return pieces[0][1]
    rows = np.concatenate([r for r, _ in pieces])
    return pa.concat_tables([t for _, t in pieces]).take(pa.array(np.argsort(rows, kind="stable")))


def _container_groups(found: _Payloads, settings: DecodeSettings) -> Iterator[_Group]:
    """Groups of plain (null codec) alert containers sharing a header; others are left row by row."""
    size = found.end - found.start
    todo = found.valid & (size > len(MAGIC) + SYNC_SIZE) & (size <= settings.max_alert_bytes)
    for k, byte in enumerate(MAGIC):
        todo[todo] = found.data[found.start[todo] + k] == byte
    for _ in range(MAX_HEADERS):
        if not todo.any():
            return
        probe = int(np.argmax(todo))
        head = found.payload(probe)
        assert isinstance(head, bytes)
        try:
            meta, _, pos = parse_header(head)
        except DecodeError:
            todo[probe] = False
            continue
        same = pc.starts_with(found.array, pattern=head[: pos - SYNC_SIZE])
        rows = np.flatnonzero(todo & pc.fill_null(same, False).to_numpy(zero_copy_only=False))
        todo[rows] = False
        try:
            schema = writer_schema(meta["avro.schema"])
        except DecodeError:
            continue
        codec = meta.get("avro.codec", b"null").decode("ascii", "replace") or "null"
        if schema.codec is not None and codec == "null":
            yield _Group(rows, schema, pos)


def _peek_group(group: _Group, found: _Payloads) -> tuple[np.ndarray, pa.Table]:
    """The rows of a group whose single block and leading fields read column-wise, and their peek."""
    data, rows = found.data, group.rows
    start, end = found.start[rows], found.end[rows]
    count, pos, ok = varints(data, start + group.header, end)
    size, pos, ok_size = varints(data, pos, end)
    block_end = pos + size
    ok &= ok_size & (count >= 1) & (count <= _INT32_MAX) & (size >= 0) & (block_end + SYNC_SIZE == end)
    marker = np.arange(SYNC_SIZE)
    sync = data[(start + group.header - SYNC_SIZE)[ok, None] + marker]
    ok[ok] = (data[block_end[ok, None] + marker] == sync).all(axis=1)
    try:
        fields = group.schema.leading_fields
        columns = fields.read_columns(data, pos[ok], block_end[ok])
    except (Unsupported, TypeError, ValueError, KeyError):  # a schema the column-wise path does not take
        return rows[:0], PEEK_SCHEMA.empty_table()
    sure = columns.ok
    codec = group.schema.codec
    assert codec is not None
    table = _peek_columns(columns, sure, codec, group.schema, count[ok][sure])
    return rows[ok][sure], table


def _peek_columns(
    columns: FieldColumns, sure: np.ndarray, codec: SurveyCodec, schema: WriterSchema, count: np.ndarray
) -> pa.Table:
    """The peek of the rows read column-wise: `SurveyCodec.peek_row`, on whole columns."""
    n = int(sure.sum())
    picked = {path: _take(column, sure) for path, column in columns.columns.items()}
    if type(codec).peek_row is SurveyCodec.peek_row:
        paths = codec.peek_paths
        version_kind, version = picked[paths.schema_version]
        object_kind, object_id = picked[paths.object_id]
        candid_kind, candid = picked[paths.candid]
        time_kind, time = picked[paths.time]
        versions = _strings(version_kind, version, nonempty=True)
        if schema.version is not None:
            versions = pc.fill_null(versions, schema.version)
        times = np.where(time_kind == INT, time[1].astype(np.float64), time[2])
        time_array = pa.array(times, pa.float64(), mask=(time_kind != INT) & (time_kind != FLOAT))
        ids = _strings(object_kind, object_id)
        candids = pa.array(candid[1], pa.int64(), mask=candid_kind != INT)
    else:  # a survey with its own rules: its peek_row on each row's values
        values = [
            dict(zip(picked, row, strict=True)) for row in zip(*map(_values, picked.values()), strict=True)
        ]
        rows = [codec.peek_row(found, schema.version) for found in values]
        versions = pa.array([r.schema_version for r in rows], pa.string())
        ids = pa.array([r.object_id for r in rows], pa.string())
        candids = pa.array([_int64(r.candid) for r in rows], pa.int64())
        time_array = pa.array([r.time for r in rows], pa.float64())
    nights = codec.nights(time_array).cast(pa.int32())
    return pa.Table.from_arrays(
        [
            _repeat(codec.name, n),
            _repeat(schema.name, n),
            versions,
            pa.array(count, pa.int32()),
            ids,
            candids,
            nights,
            pa.nulls(n, pa.string()),
        ],
        schema=PEEK_SCHEMA,
    )


def _take(column: Any, sure: np.ndarray) -> tuple[np.ndarray, tuple[pa.Array, np.ndarray, np.ndarray]]:
    """(kind, (texts, ints, floats)) of the sure rows of one column."""
    return column.kind[sure], (column.texts.filter(pa.array(sure)), column.ints[sure], column.floats[sure])


def _strings(
    kind: np.ndarray, value: tuple[pa.Array, np.ndarray, np.ndarray], nonempty: bool = False
) -> pa.Array:
    """The string values (null where the value is not a string, or is empty when `nonempty`)."""
    texts = value[0]
    keep = kind == STRING
    if nonempty:
        keep &= pc.binary_length(texts).fill_null(0).to_numpy(zero_copy_only=False) > 0
    kept = pc.if_else(pa.array(keep), texts, pa.scalar(None, texts.type))
    return kept.cast(pa.large_string()).cast(pa.string())


def _values(picked: tuple[np.ndarray, tuple[pa.Array, np.ndarray, np.ndarray]]) -> list[Any]:
    """Python values of one column, as `LeadingFields.read` returns them."""
    kind, (texts, ints, floats) = picked
    raw = texts.to_pylist()
    out: list[Any] = []
    for i, k in enumerate(kind.tolist()):
        if k == STRING:
            out.append(raw[i].decode("utf-8"))
        elif k == BYTES:
            out.append(raw[i])
        elif k == INT:
            out.append(int(ints[i]))
        elif k == BOOL:
            out.append(bool(ints[i]))
        elif k == FLOAT:
            out.append(float(floats[i]))
        else:
            out.append(None)
    return out


def _repeat(value: str | None, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, np.int32)))


def _int64(value: int | None) -> int | None:
    """A candid that does not fit the column is not a candid (the peek reports, it never raises)."""
    return value if value is None or _INT64[0] <= value <= _INT64[1] else None


def _schema_name(data: bytes) -> str | None:
    """Writer schema name of a container whose schema is not an alert (for the bronze row)."""
    try:
        meta, _, _ = parse_header(data)
        return writer_schema(meta["avro.schema"]).name
    except Exception:  # noqa: BLE001 - best effort on bytes already known to be bad
        return None


def _peek_one(data: bytes | None, settings: DecodeSettings, default: SurveyCodec) -> _Peeked:
    """The peek of one payload: the reference for the column-wise path."""
    try:
        unpacked = unpack(data, settings, default, peek=True)
        schema = unpacked.schema
        codec = schema.codec
        assert codec is not None
        first = next(block for count, block in unpacked.blocks if count)
        if unpacked.envelope != "container":  # a schemaless datum must parse to count as one
            schema.framer.split(first, 1)
    except DecodeError as exc:
        name = _schema_name(data) if exc.code == "unknown_schema" and data else None
        return _Peeked(schema_name=name, peek_error=f"{exc.code}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - the peek reports, it never raises
        envelope = "container" if data and data[:4] == MAGIC else "payload"
        code = "corrupt_avro" if envelope == "container" else "not_avro"
        return _Peeked(peek_error=f"{code}: {envelope} does not parse ({exc})")
    n_alerts = unpacked.n_records
    if n_alerts > _INT32_MAX:
        message = f"corrupt_avro: container declares {n_alerts} records"
        return _Peeked(codec.name, schema.name, schema.version, peek_error=message)
    try:
        found = schema.leading_fields.read(first)
    except Exception as exc:  # noqa: BLE001
        message = f"corrupt_avro: first record does not parse ({exc})"
        return _Peeked(codec.name, schema.name, schema.version, n_alerts, peek_error=message, codec=codec)
    peeked = codec.peek_row(found, schema.version)
    return _Peeked(
        codec.name,
        schema.name,
        peeked.schema_version,
        n_alerts,
        peeked.object_id,
        _int64(peeked.candid),
        peeked.time,
        codec=codec,
    )


def _peek_rows(
    rows: np.ndarray, found: _Payloads, settings: DecodeSettings, default: SurveyCodec
) -> pa.Table:
    """The reference peek of each of `rows` (the payloads the column-wise path did not take)."""
    peeked = [_peek_one(found.payload(int(i)), settings, default) for i in rows]
    columns: dict[str, list[Any]] = {f.name: [getattr(p, f.name, None) for p in peeked] for f in PEEK_SCHEMA}
    columns["night"] = _nights([p.time for p in peeked], [p.codec for p in peeked])
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) for f in PEEK_SCHEMA], schema=PEEK_SCHEMA)


def _nights(times: list[float | None], codecs: list[SurveyCodec | None]) -> list[int | None]:
    """Nights computed per survey on whole columns."""
    nights: list[int | None] = [None] * len(times)
    for codec in {c for c in codecs if c is not None}:
        picked = [i for i, c in enumerate(codecs) if c is codec]
        values = codec.nights(pa.array([times[i] for i in picked], pa.float64())).to_pylist()
        for i, night in zip(picked, values, strict=True):
            nights[i] = night
    return nights
