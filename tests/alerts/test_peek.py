"""The bronze peek agrees with the full decode, and reports (never raises) on bad bytes."""

from __future__ import annotations

import pyarrow as pa

from siskin.alerts.decoder import peek_payloads
from siskin.config import DecodeSettings


def test_peek_agrees_with_decode_on_the_first_alert_of_each_payload(real_payloads, decoded_real) -> None:
    peek = peek_payloads(real_payloads, DecodeSettings())
    assert peek.num_rows == len(real_payloads)
    assert peek.column("peek_error").null_count == peek.num_rows
    alerts = decoded_real.alerts
    first: dict[int, int] = {}
    for i, row in enumerate(alerts.column("_row").to_pylist()):
        first.setdefault(row, i)
    firsts = alerts.take(pa.array([first[row] for row in range(len(real_payloads))]))
    assert peek.column("candid").to_pylist() == firsts.column("candid").to_pylist()
    assert peek.column("object_id").to_pylist() == firsts.column("objectId").to_pylist()
    assert peek.column("night").to_pylist() == firsts.column("night").to_pylist()
    assert peek.column("schema_version").to_pylist() == firsts.column("schema_version").to_pylist()
    assert set(peek.column("survey").to_pylist()) == {"ztf"}
    assert set(peek.column("schema_name").to_pylist()) == {"ztf.alert", "topLevelRecord"}


def test_peek_counts_every_record_of_a_payload(real_payloads, oracle) -> None:
    counts = peek_payloads(real_payloads, DecodeSettings()).column("n_alerts").to_pylist()
    assert sum(counts) == len(oracle)
    assert max(counts) > 50  # the multi-alert Spark files


def test_peek_reports_bad_bytes_in_place(good_402: bytes) -> None:
    payloads = pa.array(
        [b"", b"Obj\x01\x02", b"\x00\x00\x00\x00\x09abc", b"random bytes " * 10, good_402, None], pa.binary()
    )
    peek = peek_payloads(payloads, DecodeSettings())
    errors = peek.column("peek_error").to_pylist()
    assert [e.split(":")[0] if e else None for e in errors] == [
        "not_avro",
        "truncated",
        "unknown_confluent_schema_id",
        "not_avro",
        None,
        "not_avro",
    ]
    assert peek.column("candid").to_pylist()[4] is not None
    assert peek.column("candid").null_count == 5


def test_peek_names_an_unknown_writer_schema(real_payloads) -> None:
    import io

    import fastavro

    schema = {
        "type": "record",
        "name": "weather",
        "namespace": "obs",
        "fields": [{"name": "t", "type": "double"}],
    }
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), [{"t": 1.0}])
    peek = peek_payloads(pa.array([out.getvalue()]), DecodeSettings()).to_pylist()[0]
    assert peek["schema_name"] == "obs.weather" and peek["peek_error"].startswith("unknown_schema")
    assert peek["survey"] is None
