"""Fixtures for the alert decoder: the real ZTF files, fastavro as the independent oracle, one decode."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pytest
from ztf_payloads import SCHEMA_402, encode

from siskin.config import DecodeSettings


@dataclass(frozen=True)
class OracleRecord:
    """What fastavro reads for one record of one payload."""

    row: int
    index: int
    candid: int
    object_id: str
    magpsf: float
    jd: float
    n_prv: int
    schemavsn: str


@pytest.fixture(scope="session")
def schema_402() -> dict[str, Any]:
    """The bundled ZTF 4.02 alert schema (the spec this package ships)."""
    return json.loads(SCHEMA_402.read_text())


@pytest.fixture(scope="session")
def alert_files(ztf_alert_dir: Path) -> list[Path]:
    """Every real ZTF Avro file, in every folder."""
    files = sorted(ztf_alert_dir.rglob("*.avro"))
    assert len(files) > 300
    return files


@pytest.fixture(scope="session")
def real_payloads(alert_files: list[Path]) -> pa.BinaryArray:
    """The real files' bytes, one payload per file, as the bronze table holds them."""
    return pa.array([f.read_bytes() for f in alert_files], pa.binary())


@pytest.fixture(scope="session")
def oracle(real_payloads: pa.BinaryArray) -> list[OracleRecord]:
    """fastavro's reading of every record of every real payload."""
    out = []
    for row, data in enumerate(real_payloads.to_pylist()):
        for index, rec in enumerate(fastavro.reader(io.BytesIO(data))):
            cand = rec["candidate"]
            out.append(
                OracleRecord(
                    row,
                    index,
                    rec["candid"],
                    rec["objectId"],
                    cand["magpsf"],
                    cand["jd"],
                    len(rec.get("prv_candidates") or []),
                    rec["schemavsn"],
                )
            )
    return out


@pytest.fixture(scope="session")
def decoded_real(real_payloads: pa.BinaryArray):  # noqa: ANN201
    """One decode of every real payload (the expensive step, shared by the tests)."""
    from siskin.alerts.decoder import decode_payloads

    return decode_payloads(real_payloads, DecodeSettings())


@pytest.fixture(scope="session")
def real_402_record(ztf_alert_dir: Path) -> dict[str, Any]:
    """A real 4.02 alert (re-published by Fink) as a record of the official 4.02 schema."""
    path = sorted((ztf_alert_dir / "fink-broker-distribute-2023-10").glob("*.avro"))[0]
    with path.open("rb") as fh:
        record = next(iter(fastavro.reader(fh)))
    record.pop("timestamp", None)  # Spark's extra field is not part of the ZTF schema
    record.setdefault("fp_hists", None)
    return record


@pytest.fixture(scope="session")
def good_402(real_402_record: dict[str, Any], schema_402: dict[str, Any]) -> bytes:
    """That alert as ZTF publishes it: a single-record container with the 4.02 writer schema."""
    return encode([real_402_record], schema_402)
