"""Cheap per-payload metadata for the bronze table, read from the envelope and the first record only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from siskin.alerts.avro_container import MAGIC, parse_header
from siskin.alerts.payloads import unpack, writer_schema
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


def _schema_name(data: bytes) -> str | None:
    """Writer schema name of a container whose schema is not an alert (for the bronze row)."""
    try:
        meta, _, _ = parse_header(data)
        return writer_schema(meta["avro.schema"]).name
    except Exception:  # noqa: BLE001 - best effort on bytes already known to be bad
        return None


def peek_payloads(
    payloads: pa.BinaryArray | pa.LargeBinaryArray, settings: DecodeSettings, *, survey: str = "ztf"
) -> pa.Table:
    """Survey, schema, ids, night and alert count per payload; bad bytes give `peek_error`, never raise.

    The survey is recognised per payload, as in `decode_payloads`; `survey` is assumed for payloads
    that carry no schema.
    """
    default = get_codec(survey)
    values = payloads.to_pylist()
    n = len(values)
    cols: dict[str, list[Any]] = {f.name: [None] * n for f in PEEK_SCHEMA}
    times: list[float | None] = [None] * n
    codecs: list[SurveyCodec | None] = [None] * n
    for i, data in enumerate(values):
        try:
            unpacked = unpack(data, settings, default, peek=True)
            schema = unpacked.schema
            codec = schema.codec
            assert codec is not None
            first = next(block for count, block in unpacked.blocks if count)
            if unpacked.envelope != "container":  # a schemaless datum must parse to count as one
                schema.framer.split(first, 1)
        except DecodeError as exc:
            cols["peek_error"][i] = f"{exc.code}: {exc.message}"
            if exc.code == "unknown_schema" and data:
                cols["schema_name"][i] = _schema_name(data)
            continue
        except Exception as exc:  # noqa: BLE001 - the peek reports, it never raises
            envelope = "container" if data and data[:4] == MAGIC else "payload"
            code = "corrupt_avro" if envelope == "container" else "not_avro"
            cols["peek_error"][i] = f"{code}: {envelope} does not parse ({exc})"
            continue
        codecs[i] = codec
        cols["survey"][i] = codec.name
        cols["schema_name"][i] = schema.name
        cols["n_alerts"][i] = unpacked.n_records
        try:
            found = schema.leading_fields.read(first)
        except Exception as exc:  # noqa: BLE001
            cols["schema_version"][i] = schema.version
            cols["peek_error"][i] = f"corrupt_avro: first record does not parse ({exc})"
            continue
        peeked = codec.peek_row(found, schema.version)
        cols["schema_version"][i] = peeked.schema_version
        cols["object_id"][i] = peeked.object_id
        cols["candid"][i] = peeked.candid
        times[i] = peeked.time
    cols["night"] = _nights(times, codecs, n)
    return pa.Table.from_arrays([pa.array(cols[f.name], f.type) for f in PEEK_SCHEMA], schema=PEEK_SCHEMA)


def _nights(times: list[float | None], codecs: list[SurveyCodec | None], n: int) -> list[int | None]:
    """Nights computed per survey on whole columns."""
    nights: list[int | None] = [None] * n
    for codec in {c for c in codecs if c is not None}:
        picked = np.array([i for i in range(n) if codecs[i] is codec])
        values = codec.nights(pa.array([times[i] for i in picked], pa.float64())).to_pylist()
        for i, night in zip(picked, values, strict=True):
            nights[int(i)] = night
    return nights
