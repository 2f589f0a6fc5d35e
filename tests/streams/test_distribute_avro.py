"""Avro of the filter topics: the columnar encoder writes the same bytes as fastavro, and they decode back."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from siskin.streams.avro import avro_schema, confluent_frame, confluent_unframe, decode, encode_rows, parse
from siskin.streams.avro_columnar import encode_table, varints


def _check(table: pa.Table) -> list[bytes]:
    parsed = parse(avro_schema(table.schema, "alert", "siskin.test"))
    reference = encode_rows(table, parsed)
    columnar = encode_table(table)
    assert columnar == reference
    assert [decode(b, parsed) for b in columnar] == table.to_pylist()
    return columnar


def test_varints_match_zigzag_reference() -> None:
    import io

    from fastavro.io.binary_encoder import BinaryEncoder

    values = [0, -1, 1, 63, -64, 64, 2**31 - 1, -(2**31), 2**62, -(2**63), 2**63 - 1]
    expected = []
    for v in values:
        buffer = io.BytesIO()
        encoder = BinaryEncoder(buffer)
        encoder.write_long(v)
        encoder.flush()
        expected.append(buffer.getvalue())
    import numpy as np

    assert varints(np.array(values, dtype=np.int64)).to_pylist() == expected


def test_columnar_equals_fastavro_on_every_type_with_nulls() -> None:
    item = pa.struct([("jd", pa.float64()), ("fid", pa.int32()), ("name", pa.string())])
    table = pa.table(
        {
            "candid": pa.array([1, -5, None, 2**60], pa.int64()),
            "fid": pa.array([1, None, 3, -2], pa.int32()),
            "mag": pa.array([18.5, None, -1.25, 0.0], pa.float32()),
            "jd": pa.array([2461365.5, 0.1, None, -3.0], pa.float64()),
            "ok": pa.array([True, False, None, True]),
            "name": pa.array(["ZTF26aaa", "", None, "é✓"]),
            "blob": pa.array([b"\x00\x01", b"", None, b"x" * 300], pa.binary()),
            "at": pa.array(
                [datetime(2026, 12, 2, tzinfo=UTC), None, datetime(1970, 1, 1, tzinfo=UTC), None],
                pa.timestamp("us", tz="UTC"),
            ),
            "history": pa.array(
                [
                    [{"jd": 1.0, "fid": 1, "name": "a"}, {"jd": None, "fid": None, "name": None}],
                    [],
                    None,
                    [{"jd": 2.0, "fid": 2, "name": ""}] * 70,
                ],
                pa.list_(item),
            ),
            "obj": pa.array(
                [{"jd": 1.0, "fid": 3, "name": "o"}, None, {"jd": None, "fid": 1, "name": None}, None], item
            ),
            "tags": pa.array([["a", "b"], None, [], ["c"]], pa.list_(pa.string())),
        }
    )
    bodies = _check(table)
    assert len(bodies) == 4
    framed = confluent_frame(1234, bodies[0])
    assert confluent_unframe(framed) == (1234, bodies[0])


def test_columnar_equals_fastavro_on_simulated_silver_rows() -> None:
    from siskin.alerts.decoder import decode_payloads
    from siskin.config import DecodeSettings
    from siskin.lake.catalog import table
    from siskin.simulate.ztf import simulate_night
    from siskin.streams.distribute import conform

    payloads = list(simulate_night(20261121, n_alerts=60, seed=5))
    decoded = decode_payloads(pa.array(payloads, pa.binary()), DecodeSettings()).alerts
    alerts = decoded["silver.alerts"] if isinstance(decoded, dict) else decoded
    rows = conform(alerts, table("silver.alerts").arrow_schema())
    assert rows.num_rows == 60
    assert sum(len(h) for h in rows.column("prv_candidates").to_pylist() if h) > 0  # history really encoded
    _check(rows)
