"""A small lake filled from simulated alerts, shared by the SQL and status tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sql_lake import build_small_lake


@pytest.fixture(scope="session")
def small_lake(spark_session, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """The small lake (`sql_lake`), built once per session."""
    return build_small_lake(spark_session, tmp_path_factory.mktemp("sql"))
