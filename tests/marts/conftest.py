"""A small lake for the marts: two simulated nights through bronze, silver (science modules) and gold."""

from __future__ import annotations

from pathlib import Path

import pytest

from siskin.config import Settings

NIGHTS = (20261124, 20261125)
ALERTS = 80


@pytest.fixture(scope="session")
def marts_lake(spark_session, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """`ALERTS` simulated alerts per night of NIGHTS (objects recur across nights), in every layer."""
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.simulate.run import write_to_dir
    from siskin.simulate.ztf import simulate_night_records

    root = tmp_path_factory.mktemp("marts")
    for night in NIGHTS:
        write_to_dir(
            simulate_night_records(night, n_alerts=ALERTS, seed=3), root / "in" / str(night), night=night
        )
    house = Lakehouse(Settings(lake=str(root / "lake")), spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(root / "in")], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    return root / "lake"
