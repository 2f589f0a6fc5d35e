"""The shipped Rubin column spec is what the official schemas say, and needs no schema files at runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from siskin.alerts.rubin import RubinCodec, build_spec, canonical, spec


def test_the_shipped_spec_is_derived_from_the_official_schemas(shared_data: Path) -> None:
    folder = shared_data / "lsst" / "schema"
    assert spec() == json.loads(json.dumps(build_spec(folder)))


def test_the_canonical_version_is_the_latest_published(shared_data: Path) -> None:
    latest = (shared_data / "lsst" / "schema" / "latest.txt").read_text().strip()
    assert spec()["canonical_version"] == latest
    assert RubinCodec.supported_versions[-1] == latest


def test_every_supported_version_has_a_fingerprint() -> None:
    assert set(RubinCodec.supported_versions) <= set(canonical().versions)


def test_the_canonical_dia_source_has_the_fields_science_uses() -> None:
    source = canonical().records["diaSource"]
    for name, dtype in [("midpointMjdTai", pa.float64()), ("psfFlux", pa.float32()), ("band", pa.string())]:
        assert source.field(name).type == dtype


def test_official_writer_schemas_name_their_version(shared_data: Path) -> None:
    from siskin.alerts.avro_schema import inline_named_types
    from siskin.alerts.rubin import resolved_alert_schema

    folder = shared_data / "lsst" / "schema"
    codec = RubinCodec()
    for version in RubinCodec.supported_versions:
        parsed = inline_named_types(json.loads(resolved_alert_schema(folder, version)))
        assert codec.recognises(parsed) and codec.writer_version(parsed) == version


def test_unnamed_writer_schemas_are_matched_by_their_fields(shared_data: Path) -> None:
    from siskin.alerts.avro_schema import inline_named_types
    from siskin.alerts.rubin import resolved_alert_schema

    folder = shared_data / "lsst" / "schema"
    codec = RubinCodec()
    for version in RubinCodec.supported_versions:
        parsed = inline_named_types(json.loads(resolved_alert_schema(folder, version)))
        spark_like = {**parsed, "name": "topLevelRecord"}
        found = codec.writer_version(spark_like)
        assert found is not None and canonical().versions[found] == canonical().versions[version]
        assert found == version or version in ("7.0", "10.0")  # same fields and types (nullability aside)
