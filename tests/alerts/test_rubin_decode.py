"""Every real Rubin alert decodes, matches fastavro (the oracle), and mixes with ZTF in one batch."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from siskin.alerts.decoder import (
    cutout_schema,
    decode_payloads,
    peek_payloads,
    reject_schema,
    rubin_alert_schema,
    silver_alert_schema,
)
from siskin.config import DecodeSettings

SPARK_90 = ("fink-broker", "rubin_test_data_9_0_avro")
SPARK_74 = ("fink-broker", "rubin_test_data_7_4_avro")
CLIENT_100 = ("fink-client", "part-2-918301.avro")


@dataclass(frozen=True)
class RubinRecord:
    """What fastavro reads for one Rubin record."""

    row: int
    dia_source_id: int
    dia_object_id: int | None
    ra: float
    dec: float
    midpoint: float
    n_prv: int
    cutout_science: bytes | None


def _object_id(record: dict[str, Any]) -> int | None:
    source, obj = record["diaSource"], record.get("diaObject") or {}
    ids = [source.get("diaObjectId"), obj.get("diaObjectId"), source.get("ssObjectId")]
    return next((i for i in ids if i), None)


@pytest.fixture(scope="module")
def rubin_files(shared_data: Path) -> list[Path]:
    """The three real Rubin sources: 100 alerts v9.0, 25 alerts v7.4, one file of 7 alerts v10.0."""
    lsst = shared_data / "lsst"
    return [
        *sorted((lsst / SPARK_90[0] / SPARK_90[1]).glob("*.avro")),
        *sorted((lsst / SPARK_74[0] / SPARK_74[1]).glob("*.avro")),
        lsst / CLIENT_100[0] / CLIENT_100[1],
    ]


@pytest.fixture(scope="module")
def rubin_payloads(rubin_files: list[Path]) -> pa.BinaryArray:
    return pa.array([f.read_bytes() for f in rubin_files], pa.binary())


@pytest.fixture(scope="module")
def rubin_oracle(rubin_payloads: pa.BinaryArray) -> list[RubinRecord]:
    out = []
    for row, data in enumerate(rubin_payloads.to_pylist()):
        for rec in fastavro.reader(io.BytesIO(data)):
            source = rec["diaSource"]
            out.append(
                RubinRecord(
                    row,
                    rec.get("diaSourceId") or source["diaSourceId"],
                    _object_id(rec),
                    source["ra"],
                    source["dec"],
                    source["midpointMjdTai"],
                    len(rec.get("prvDiaSources") or []),
                    rec.get("cutoutScience"),
                )
            )
    return out


@pytest.fixture(scope="module")
def decoded_rubin(rubin_payloads: pa.BinaryArray):  # noqa: ANN201
    return decode_payloads(rubin_payloads, DecodeSettings())


def _spark_record(shared_data: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first v9.0 alert and its (Spark-written) writer schema."""
    path = sorted((shared_data / "lsst" / SPARK_90[0] / SPARK_90[1]).glob("*.avro"))[0]
    with path.open("rb") as fh:
        reader = fastavro.reader(fh)
        return next(iter(reader)), reader.writer_schema


def _container(records: list[dict[str, Any]], schema: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), records)
    return out.getvalue()


def test_every_real_rubin_alert_decodes_without_rejects(decoded_rubin, rubin_oracle) -> None:
    assert decoded_rubin.rejects.num_rows == 0, decoded_rubin.rejects.to_pylist()[:3]
    assert decoded_rubin.rubin_alerts.num_rows == len(rubin_oracle) == 132
    assert decoded_rubin.alerts.num_rows == 0


def test_decoded_rubin_values_equal_what_fastavro_reads(decoded_rubin, rubin_oracle) -> None:
    alerts = decoded_rubin.rubin_alerts
    got = zip(
        alerts.column("_row").to_pylist(),
        alerts.column("diaSourceId").to_pylist(),
        alerts.column("diaObjectId").to_pylist(),
        alerts.column("ra").to_pylist(),
        alerts.column("dec").to_pylist(),
        alerts.column("midpointMjdTai").to_pylist(),
        pc.fill_null(pc.list_value_length(alerts.column("prvDiaSources")), 0).to_pylist(),
        strict=True,
    )
    for want, have in zip(rubin_oracle, got, strict=True):
        assert have == (
            want.row,
            want.dia_source_id,
            want.dia_object_id,
            want.ra,
            want.dec,
            want.midpoint,
            want.n_prv,
        )


def test_long_histories_are_kept_whole(decoded_rubin) -> None:
    lengths = pc.list_value_length(decoded_rubin.rubin_alerts.column("prvDiaSources"))
    assert pc.max(lengths).as_py() == 391


def test_schema_versions_come_from_the_record_or_the_writer_schema_fields(decoded_rubin) -> None:
    versions = pc.value_counts(decoded_rubin.rubin_alerts.column("schema_version")).to_pylist()
    # 9.0 and 10.0 carry Fink's lsst_schema_version; the 7.4 files are recognised by their fields
    assert {v["values"]: v["counts"] for v in versions} == {"9.0": 100, "7.4": 25, "10.0": 7}


def test_rubin_tables_have_the_published_schemas(decoded_rubin) -> None:
    assert decoded_rubin.rubin_alerts.schema == rubin_alert_schema() == silver_alert_schema("rubin")
    assert decoded_rubin.cutouts.schema == cutout_schema().append(pa.field("survey", pa.string()))
    assert decoded_rubin.rejects.schema == reject_schema()
    names = rubin_alert_schema().names
    assert names[:6] == ["_row", "night", "survey", "schema_version", "diaSourceId", "diaObjectId"]
    assert {"psfFlux", "band", "reliability", "isNegative", "prvDiaForcedSources", "ssSource"} <= set(names)
    assert not {"alertId", "brokerIngestMjd", "lsst_schema_version", "cutoutScience", "MPCORB"} & set(names)


def test_fields_renamed_since_74_are_filled_under_their_newest_name(decoded_rubin) -> None:
    alerts = decoded_rubin.rubin_alerts
    old = alerts.filter(pc.equal(alerts.column("schema_version"), "7.4"))
    assert old.column("isNegative").null_count == 0  # `is_negative` in 7.4
    assert old.column("observation_reason").null_count == old.num_rows  # 8.0 on only


def test_solar_system_sources_are_keyed_by_their_ss_object(decoded_rubin) -> None:
    alerts = decoded_rubin.rubin_alerts
    sso = alerts.filter(pc.not_equal(alerts.column("ssObjectId"), 0))
    assert sso.num_rows > 0
    assert sso.column("diaObjectId").to_pylist() == sso.column("ssObjectId").to_pylist()
    assert sso.column("ssSource").null_count == 0


def test_night_is_the_chilean_day_obs(decoded_rubin) -> None:
    alerts = decoded_rubin.rubin_alerts
    for mjd, night in zip(
        alerts.column("midpointMjdTai").to_pylist(), alerts.column("night").to_pylist(), strict=True
    ):
        utc = datetime(1858, 11, 17, tzinfo=UTC) + timedelta(days=mjd, seconds=-37)
        assert night == int((utc - timedelta(hours=12)).strftime("%Y%m%d"))


def test_rubin_cutouts_are_keyed_by_dia_source_id(decoded_rubin, rubin_oracle) -> None:
    cutouts, alerts = decoded_rubin.cutouts, decoded_rubin.rubin_alerts
    assert cutouts.column("candid").to_pylist() == alerts.column("diaSourceId").to_pylist()
    objects = [str(i) for i in alerts.column("diaObjectId").to_pylist()]
    assert cutouts.column("objectId").to_pylist() == objects
    assert cutouts.column("cutoutScience_stampData").to_pylist() == [r.cutout_science for r in rubin_oracle]
    assert cutouts.column("cutoutScience_fileName").null_count == cutouts.num_rows


def test_a_mixed_batch_decodes_both_surveys_and_ztf_as_alone(
    real_payloads, decoded_real, rubin_payloads, decoded_rubin
) -> None:
    ztf, rubin = real_payloads.to_pylist(), rubin_payloads.to_pylist()
    mixed, ztf_rows, rubin_rows = [], [], []
    for i in range(max(len(ztf), len(rubin))):
        for source, rows in ((ztf, ztf_rows), (rubin, rubin_rows)):
            if i < len(source):
                rows.append(len(mixed))
                mixed.append(source[i])
    result = decode_payloads(pa.array(mixed, pa.binary()), DecodeSettings())
    assert result.rejects.num_rows == 0

    def renumbered(table: pa.Table, rows: list[int]) -> pa.Table:
        moved = pc.take(pa.array(rows, pa.int32()), table.column("_row"))
        return table.set_column(0, table.schema.field("_row"), moved)

    assert result.alerts.equals(renumbered(decoded_real.alerts, ztf_rows))
    assert result.rubin_alerts.equals(renumbered(decoded_rubin.rubin_alerts, rubin_rows))
    expected_cutouts = pa.concat_tables(
        [renumbered(decoded_real.cutouts, ztf_rows), renumbered(decoded_rubin.cutouts, rubin_rows)]
    )
    order = pc.sort_indices(expected_cutouts.column("_row"))
    assert result.cutouts.equals(expected_cutouts.take(order))


def test_peek_agrees_with_decode_on_rubin(rubin_payloads, decoded_rubin) -> None:
    peek = peek_payloads(rubin_payloads, DecodeSettings())
    assert peek.column("peek_error").null_count == peek.num_rows
    alerts = decoded_rubin.rubin_alerts
    first: dict[int, int] = {}
    for i, row in enumerate(alerts.column("_row").to_pylist()):
        first.setdefault(row, i)
    firsts = alerts.take(pa.array([first[row] for row in range(len(rubin_payloads))]))
    assert peek.column("candid").to_pylist() == firsts.column("diaSourceId").to_pylist()
    assert peek.column("object_id").to_pylist() == [str(i) for i in firsts.column("diaObjectId").to_pylist()]
    assert peek.column("night").to_pylist() == firsts.column("night").to_pylist()
    assert peek.column("schema_version").to_pylist() == firsts.column("schema_version").to_pylist()
    assert set(peek.column("survey").to_pylist()) == {"rubin"}
    assert sum(peek.column("n_alerts").to_pylist()) == alerts.num_rows


def test_peek_of_a_mixed_batch_names_each_survey(real_payloads, rubin_payloads) -> None:
    mixed = pa.array([real_payloads[0].as_py(), rubin_payloads[0].as_py()], pa.binary())
    assert peek_payloads(mixed, DecodeSettings()).column("survey").to_pylist() == ["ztf", "rubin"]


def test_a_nan_ra_is_rejected_as_non_finite(shared_data) -> None:
    record, schema = _spark_record(shared_data)
    bad = {**record, "diaSource": {**record["diaSource"], "ra": math.nan}}
    result = decode_payloads(pa.array([_container([record, bad], schema)]), DecodeSettings())
    assert result.rubin_alerts.num_rows == 1
    assert result.rejects.select(["reason_code", "alert_index", "candid"]).to_pylist() == [
        {"reason_code": "non_finite", "alert_index": 1, "candid": record["diaSourceId"]}
    ]
    assert "diaSource.ra is NaN" in result.rejects.column("reason")[0].as_py()


def test_a_null_dia_source_id_is_a_missing_field(shared_data) -> None:
    record, schema = _spark_record(shared_data)
    bad = {**record, "diaSourceId": None, "diaSource": {**record["diaSource"], "diaSourceId": None}}
    result = decode_payloads(pa.array([_container([bad], schema)]), DecodeSettings())
    assert result.rejects.column("reason_code").to_pylist() == ["missing_field"]
    assert result.rejects.column("reason")[0].as_py() == "diaSourceId is missing"


@pytest.mark.parametrize("claimed", ["lsst.v6_1", "lsst.v12_0"])
def test_versions_before_7_or_unknown_are_rejected(shared_data, claimed: str) -> None:
    record, schema = _spark_record(shared_data)
    payload = _container([{**record, "lsst_schema_version": claimed}], schema)
    result = decode_payloads(pa.array([payload]), DecodeSettings())
    assert result.rejects.column("reason_code").to_pylist() == ["unknown_schema_version"]


def test_an_official_pre_7_alert_is_rejected(shared_data) -> None:
    fake = shared_data / "lsst" / "schema" / "6" / "1" / "sample_data" / "fakeAlert.avro"
    result = decode_payloads(pa.array([fake.read_bytes()]), DecodeSettings())
    assert result.rejects.column("reason_code").to_pylist() == ["unknown_schema_version"]
    assert "6.1 is not a supported Rubin version" in result.rejects.column("reason")[0].as_py()


# --- Confluent-framed Rubin payloads (the Rubin Kafka format) -----------------------------------------


def _official(shared_data: Path, major: int, minor: int) -> dict[str, Any]:
    """The official lsst.vX_Y alert schema, named types resolved by fastavro from its folder."""
    folder = shared_data / "lsst" / "schema" / str(major) / str(minor)
    return fastavro.schema.load_schema(folder / f"lsst.v{major}_{minor}.alert.avsc")


def _framed(schema_id: int, record: dict[str, Any], schema: dict[str, Any]) -> bytes:
    """`record` as Rubin publishes it: magic byte, schema id, schemaless datum of the official schema."""
    absent = {k: None for k, v in record.items() if isinstance(v, dict) and not any(v.values())}
    out = io.BytesIO()  # Spark wrote absent records as all-null ones
    fastavro.schemaless_writer(out, schema, {**record, **absent})
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


@pytest.fixture
def schema_dir(shared_data: Path) -> Path:
    return shared_data / "lsst" / "schema"


@pytest.mark.parametrize(("source", "major"), [(SPARK_90, 9), (CLIENT_100, 10)])
def test_a_confluent_framed_rubin_alert_decodes_as_its_container_does(
    shared_data, schema_dir, rubin_files, decoded_rubin, source, major
) -> None:
    path = shared_data / "lsst" / source[0] / source[1]
    path = path if path.is_file() else sorted(path.glob("*.avro"))[0]
    with path.open("rb") as fh:
        record = next(iter(fastavro.reader(fh)))
    payload = _framed(42, record, _official(shared_data, major, 0))
    settings = DecodeSettings(
        confluent_schema_ids={"42": f"lsst.v{major}_0"}, rubin_schema_dir=str(schema_dir)
    )
    result = decode_payloads(pa.array([payload]), settings)
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    row = rubin_files.index(path)
    expected = decoded_rubin.rubin_alerts.filter(pc.equal(decoded_rubin.rubin_alerts.column("_row"), row))
    got = result.rubin_alerts
    assert got.drop_columns(["_row"]).equals(expected.slice(0, 1).drop_columns(["_row"]))
    peek = peek_payloads(pa.array([payload]), settings).to_pylist()[0]
    assert (peek["survey"], peek["schema_name"], peek["schema_version"]) == (
        "rubin",
        f"lsst.v{major}_0.alert",
        f"{major}.0",
    )
    assert peek["candid"] == record["diaSourceId"]


def test_an_unconfigured_confluent_id_is_rejected(shared_data, schema_dir) -> None:
    record, _ = _spark_record(shared_data)
    payload = _framed(42, record, _official(shared_data, 9, 0))
    settings = DecodeSettings(confluent_schema_ids={"7": "lsst.v9_0"}, rubin_schema_dir=str(schema_dir))
    result = decode_payloads(pa.array([payload]), settings)
    assert result.rejects.column("reason_code").to_pylist() == ["unknown_confluent_schema_id"]


def test_a_rubin_schema_id_without_the_schema_folder_says_what_to_set(shared_data) -> None:
    record, _ = _spark_record(shared_data)
    payload = _framed(42, record, _official(shared_data, 9, 0))
    result = decode_payloads(pa.array([payload]), DecodeSettings(confluent_schema_ids={"42": "lsst.v9_0"}))
    assert result.rejects.column("reason_code").to_pylist() == ["unknown_schema_version"]
    assert "rubin_schema_dir" in result.rejects.column("reason")[0].as_py()
