"""Every real ZTF alert file decodes, and what it decodes to matches fastavro (the oracle)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from siskin.alerts.decoder import cutout_schema, reject_schema, silver_alert_schema


def test_every_record_of_every_file_is_an_alert_or_a_reject(decoded_real, oracle, real_payloads) -> None:
    assert decoded_real.alerts.num_rows + decoded_real.rejects.num_rows == len(oracle)
    per_row = Counter(decoded_real.alerts.column("_row").to_pylist())
    per_row.update(decoded_real.rejects.column("_row").to_pylist())
    assert per_row == Counter(rec.row for rec in oracle)
    assert set(per_row) == set(range(len(real_payloads)))


def test_real_alerts_all_decode_without_rejects(decoded_real, oracle) -> None:
    assert decoded_real.rejects.num_rows == 0, decoded_real.rejects.to_pylist()[:3]
    assert decoded_real.alerts.num_rows == len(oracle) > 400


def test_decoded_values_equal_what_fastavro_reads(decoded_real, oracle) -> None:
    alerts = decoded_real.alerts
    got = zip(
        alerts.column("_row").to_pylist(),
        alerts.column("candid").to_pylist(),
        alerts.column("objectId").to_pylist(),
        alerts.column("magpsf").to_pylist(),
        alerts.column("jd").to_pylist(),
        pc.list_value_length(alerts.column("prv_candidates")).to_pylist(),
        strict=True,
    )
    for want, (row, candid, object_id, magpsf, jd, n_prv) in zip(oracle, got, strict=True):
        assert (row, candid, object_id, jd) == (want.row, want.candid, want.object_id, want.jd)
        assert math.isclose(magpsf, want.magpsf, rel_tol=1e-6)  # float32 in both
        assert (n_prv or 0) == want.n_prv


def test_all_schema_versions_in_the_data_decode(decoded_real, oracle) -> None:
    versions = set(decoded_real.alerts.column("schema_version").to_pylist())
    assert versions == {"3.0", "3.2", "3.3", "4.02"} == {rec.schemavsn for rec in oracle}


def test_tables_have_the_published_schemas(decoded_real) -> None:
    assert decoded_real.alerts.schema == silver_alert_schema()
    assert decoded_real.cutouts.schema == cutout_schema().append(pa.field("survey", pa.string()))
    assert decoded_real.rejects.schema == reject_schema()


def test_every_candidate_field_of_402_is_a_column_and_broker_fields_are_dropped(
    decoded_real, schema_402
) -> None:
    names = set(decoded_real.alerts.column_names)
    candidate = next(f for f in schema_402["fields"] if f["name"] == "candidate")["type"]
    assert {f["name"] for f in candidate["fields"]} - {"candid"} <= names
    assert not {"cdsxmatch", "timestamp", "rfscore", "candidate"} & names
    prv_type = decoded_real.alerts.schema.field("prv_candidates").type.value_type
    assert prv_type.get_field_index("magpsf") >= 0 and prv_type.get_field_index("pdiffimfilename") >= 0


def test_upper_limits_are_kept_in_prv_candidates(decoded_real) -> None:
    items = pc.list_flatten(decoded_real.alerts.column("prv_candidates"))
    magpsf = pc.struct_field(items, "magpsf")
    assert 0 < magpsf.null_count < len(magpsf)


def test_fp_hists_are_null_before_401(decoded_real) -> None:
    alerts = decoded_real.alerts
    old = pc.invert(pc.is_in(alerts.column("schema_version"), value_set=pa.array(["4.01", "4.02"])))
    assert alerts.filter(old).column("fp_hists").null_count == alerts.filter(old).num_rows


def test_night_is_the_utc_date_of_jd(decoded_real) -> None:
    alerts = decoded_real.alerts
    for jd, night in zip(alerts.column("jd").to_pylist(), alerts.column("night").to_pylist(), strict=True):
        date = datetime.fromtimestamp((jd - 2440587.5) * 86400, UTC)
        assert night == date.year * 10000 + date.month * 100 + date.day


def test_cutouts_follow_the_alerts_row_for_row(decoded_real) -> None:
    alerts, cutouts = decoded_real.alerts, decoded_real.cutouts
    assert cutouts.column("candid").to_pylist() == alerts.column("candid").to_pylist()
    assert cutouts.column("_row").to_pylist() == alerts.column("_row").to_pylist()
    stamps = cutouts.column("cutoutScience_stampData").to_pylist()
    assert all(s[:2] == b"\x1f\x8b" for s in stamps)  # gzip FITS bytes, as in the alert
    assert cutouts.column("cutoutDifference_fileName").null_count == 0
