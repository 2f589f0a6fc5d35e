"""A DAG run's night: its parameter, else its data interval's UTC date; date ranges for manual runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siskin.errors import ConfigurationError
from siskin.orchestration.nights import nights_between, parse_night, resolve_night


def test_parameter_wins_over_the_interval() -> None:
    assert resolve_night(20261121, datetime(2026, 11, 30, 12, tzinfo=UTC)) == 20261121
    assert resolve_night("2026-11-21", None) == 20261121


def test_scheduled_run_works_on_the_night_its_interval_starts() -> None:
    assert resolve_night(None, datetime(2026, 11, 21, 12, tzinfo=UTC)) == 20261121
    assert resolve_night("", datetime(2026, 12, 31, 12, tzinfo=UTC)) == 20261231


def test_manual_run_without_night_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="needs a night"):
        resolve_night(None, None)


@pytest.mark.parametrize("bad", ["2026-13-01", "tonight", 2026112, "20261131"])
def test_bad_nights_are_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="YYYYMMDD"):
        parse_night(bad)


def test_ranges_cross_month_ends_and_refuse_reversed_ones() -> None:
    assert nights_between(20261130, "2026-12-02") == [20261130, 20261201, 20261202]
    with pytest.raises(ConfigurationError, match="before it starts"):
        nights_between(20261202, 20261130)
