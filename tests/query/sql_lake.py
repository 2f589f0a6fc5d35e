"""The small lake the SQL and status tests query: one simulated night through every layer."""

from __future__ import annotations

from pathlib import Path

from siskin.config import Settings

NIGHT = 20261124
ALERTS = 60


def build_small_lake(spark, root: Path) -> Path:  # noqa: ANN001
    """60 simulated alerts of NIGHT through bronze, silver and gold, in `root/lake`."""
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.simulate.run import write_to_dir
    from siskin.simulate.ztf import simulate_night_records

    write_to_dir(simulate_night_records(NIGHT, n_alerts=ALERTS, seed=1), root / "in", night=NIGHT)
    house = Lakehouse(Settings(lake=root / "lake"), spark)
    house.ensure_tables()
    house.start_bronze_files([str(root / "in")], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    return root / "lake"
