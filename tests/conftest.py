"""Shared fixtures: one Spark session per test session, the real data folder, a scratch lake."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
