"""Shared fixtures: one Spark session per test session, the real data folder, a scratch lake."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from siskin.broker.tansu import EmbeddedBroker, tansu_binary
from siskin.errors import BrokerError

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SISKIN_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real ZTF/Rubin data beside the checkout; tests needing it skip with a reason if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (a user's fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ztf_alert_dir(shared_data: Path) -> Path:
    return shared_data / "ztf" / "alerts"


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The one Spark session every Spark test shares."""
    from siskin.config import Settings
    from siskin.spark.session import build_spark

    lake = tmp_path_factory.mktemp("spark-lake")
    settings = Settings(lake=lake, spark={"shuffle_partitions": 2, "driver_memory": "3g"})
    spark = build_spark(settings)
    yield spark
    spark.stop()


@pytest.fixture
def lake_settings(tmp_path: Path) -> object:
    """Settings pointing at a fresh, empty lake under the test's temp dir."""
    from siskin.config import Settings

    return Settings(lake=tmp_path / "lake", spark={"shuffle_partitions": 2, "driver_memory": "3g"})


# --- Kafka: one embedded tansu broker per test module -------------------------------------------
_counter = itertools.count()


@pytest.fixture(scope="module")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A fresh in-memory tansu broker per test module; skips if the binary is not installed."""
    try:
        tansu_binary()
    except BrokerError as exc:
        pytest.skip(str(exc))
    broker = EmbeddedBroker(tmp_path_factory.mktemp("tansu"))
    with broker:
        yield broker


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test in this broker's life uses (tansu keeps topics until it stops)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"{base}-{os.getpid()}-{next(_counter)}"
