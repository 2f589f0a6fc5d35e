"""Nightly data quality: Great Expectations suites per layer, `gold.night_status`, Data Docs, a night report.

`run_night(settings, night)` checks one night. This package imports nothing heavy at import time: the
table catalog imports `siskin.quality.tables` to learn `gold.night_status`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siskin.config import Settings
    from siskin.quality.run import QualityResult


def run_night(settings: Settings, night: int, *, empty_ok: bool = False) -> QualityResult:
    """Check one night (see `siskin.quality.run.run_night`)."""
    from siskin.quality.run import run_night as run

    return run(settings, night, empty_ok=empty_ok)


def __getattr__(name: str) -> Any:
    if name in ("QualityResult", "QualityError"):
        from siskin.quality import run

        return getattr(run, name)
    raise AttributeError(name)


__all__ = ["QualityError", "QualityResult", "run_night"]
