"""Two consecutive simulated nights, generated once per test session, decoded with fastavro."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest

from siskin.simulate import simulate_night_records

NIGHT1, NIGHT2 = 20231018, 20231019
N_ALERTS = 300
SEED = 7


def decode(payload: bytes) -> dict[str, Any]:
    """The single record of a container payload."""
    records = list(fastavro.reader(io.BytesIO(payload)))
    assert len(records) == 1
    record: Any = records[0]
    return dict(record)


@pytest.fixture(scope="session")
def sim() -> SimpleNamespace:
    """The nights, size and seed the fixtures below simulate."""
    return SimpleNamespace(night1=NIGHT1, night2=NIGHT2, n_alerts=N_ALERTS, seed=SEED)


@pytest.fixture(scope="session")
def night1_payloads() -> list[tuple[int, bytes]]:
    return list(simulate_night_records(NIGHT1, n_alerts=N_ALERTS, seed=SEED))


@pytest.fixture(scope="session")
def night2_payloads() -> list[tuple[int, bytes]]:
    return list(simulate_night_records(NIGHT2, n_alerts=N_ALERTS, seed=SEED))


@pytest.fixture(scope="session")
def night1(night1_payloads: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    return [decode(payload) for _, payload in night1_payloads]


@pytest.fixture(scope="session")
def night2(night2_payloads: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    return [decode(payload) for _, payload in night2_payloads]


@pytest.fixture(scope="session")
def official_schema(shared_data: Path) -> Any:
    """The official ZTF 4.02 schema, its five .avsc files parsed with named types resolved."""
    folder = shared_data / "ztf" / "schema" / "v4.02"
    named: dict[str, Any] = {}
    for name in ("candidate", "prv_candidate", "fp_hist", "cutout"):
        fastavro.parse_schema(json.loads((folder / f"{name}.avsc").read_text()), named_schemas=named)
    return fastavro.parse_schema(json.loads((folder / "alert.avsc").read_text()), named_schemas=named)
