"""A small lake built from real ZTF alerts (one archive folder of ../shared/data, one night)."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_FOLDER = "fink-broker-2020-01-01"  # 50 real ZTF alerts of night 20200101


@pytest.fixture(scope="module")
def quality_lake(spark_session, ztf_alert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """The real alerts of REAL_FOLDER through bronze, silver and gold; returns the lake root."""
    from siskin.config import Settings
    from siskin.pipeline.lakehouse import Lakehouse

    lake = tmp_path_factory.mktemp("quality") / "lake"
    house = Lakehouse(Settings(lake=lake), spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(ztf_alert_dir / REAL_FOLDER)], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    return lake
