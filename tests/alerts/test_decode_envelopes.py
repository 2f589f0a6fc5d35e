"""The three payload envelopes (container, Confluent frame, schemaless datum) decode to the same alert."""

from __future__ import annotations

import io

import fastavro
import pyarrow as pa
import pytest
from compression_bombs import recoded
from ztf_payloads import datum, encode

from siskin.alerts.decoder import decode_payloads
from siskin.config import DecodeSettings


def test_schemaless_and_confluent_datums_decode_to_the_container_alert(
    real_402_record, schema_402, good_402
) -> None:
    bare = datum(real_402_record, schema_402)
    confluent = b"\x00" + (12).to_bytes(4, "big") + bare
    settings = DecodeSettings(confluent_schema_ids={"12": "4.02"})
    result = decode_payloads(pa.array([good_402, bare, confluent]), settings)
    assert result.rejects.num_rows == 0
    assert result.alerts.column("candid").to_pylist() == [real_402_record["candid"]] * 3
    assert result.alerts.column("_row").to_pylist() == [0, 1, 2]
    first = result.alerts.slice(0, 1).drop_columns(["_row"])
    for row in (1, 2):
        assert result.alerts.slice(row, 1).drop_columns(["_row"]).equals(first)


def test_a_confluent_id_mapped_to_an_unbundled_version_is_an_unknown_version(
    real_402_record, schema_402
) -> None:
    confluent = b"\x00" + (5).to_bytes(4, "big") + datum(real_402_record, schema_402)
    result = decode_payloads(pa.array([confluent]), DecodeSettings(confluent_schema_ids={"5": "3.3"}))
    assert result.rejects.column("reason_code").to_pylist() == ["unknown_schema_version"]


def test_schemaless_payloads_need_a_bundled_default_version(real_402_record, schema_402) -> None:
    bare = datum(real_402_record, schema_402)
    result = decode_payloads(pa.array([bare]), DecodeSettings(ztf_default_schema_version="3.3"))
    assert result.rejects.column("reason_code").to_pylist() == ["unknown_schema_version"]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_container_codecs_decode(codec: str, real_402_record, schema_402) -> None:
    payload = encode([real_402_record, real_402_record], schema_402, codec=codec)
    result = decode_payloads(pa.array([payload]), DecodeSettings())
    assert result.alerts.column("candid").to_pylist() == [real_402_record["candid"]] * 2
    assert result.rejects.num_rows == 0


def test_payloads_with_different_writer_schemas_keep_input_order(real_payloads) -> None:
    picked = real_payloads.take(pa.array([300, 0, 150, 5, 299, 1]))
    result = decode_payloads(picked, DecodeSettings())
    rows = result.alerts.column("_row").to_pylist()
    assert rows == sorted(rows) and set(rows) == set(range(6))
    assert result.cutouts.column("candid").to_pylist() == result.alerts.column("candid").to_pylist()


def test_large_binary_input_is_accepted(good_402) -> None:
    result = decode_payloads(pa.array([good_402], pa.large_binary()), DecodeSettings())
    assert result.alerts.num_rows == 1


def test_a_long_string_falls_back_to_exact_framing(real_402_record, schema_402) -> None:
    record = dict(real_402_record)
    record["publisher"] = "p" * 5000  # beyond the regex fast path's short-string alternation
    result = decode_payloads(pa.array([encode([record], schema_402)]), DecodeSettings())
    assert result.alerts.column("publisher").to_pylist() == ["p" * 5000]


@pytest.mark.parametrize("codec", ["zstandard", "deflate", "snappy"])
def test_every_block_of_a_compressed_multi_block_container_decodes(
    codec: str, real_402_record, schema_402
) -> None:
    """Blocks are inflated one by one against one budget for the payload; honest blocks all fit."""
    records = [
        dict(real_402_record, candidate=dict(real_402_record["candidate"], magpsf=15.0 + k)) for k in range(4)
    ]
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema_402), records, sync_interval=1)  # one record per block
    payload = recoded(out.getvalue(), codec)
    result = decode_payloads(pa.array([payload]), DecodeSettings(max_alert_bytes=200_000))
    assert result.rejects.num_rows == 0
    assert result.alerts.column("magpsf").to_pylist() == [15.0, 16.0, 17.0, 18.0]
