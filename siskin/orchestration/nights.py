"""Which night a DAG run works on: the `night` parameter, else the night its data interval covers."""

from __future__ import annotations

from datetime import date, datetime

from siskin.errors import ConfigurationError


def parse_night(value: object) -> int:
    """A night as YYYYMMDD (int or text, dashes allowed); a ConfigurationError for anything else."""
    text = str(value).strip().replace("-", "")
    if len(text) != 8 or not text.isdigit():
        raise ConfigurationError(f"night must be a date as YYYYMMDD, got {value!r}")
    try:
        parsed = datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ConfigurationError(f"night must be a date as YYYYMMDD, got {value!r}") from None
    return int(parsed.strftime("%Y%m%d"))


def night_of_interval(start: datetime | date) -> int:
    """The night a nightly run's data interval starts on (its UTC date as YYYYMMDD)."""
    return int(start.strftime("%Y%m%d"))


def resolve_night(param: object, interval_start: datetime | date | None) -> int:
    """The run's night: an explicit parameter wins (manual runs, reruns), else the data interval's night."""
    if param not in (None, ""):
        return parse_night(param)
    if interval_start is None:
        raise ConfigurationError('a manual run needs a night: trigger it with {"night": YYYYMMDD}')
    return night_of_interval(interval_start)


def nights_between(first: object, last: object) -> list[int]:
    """Every night from `first` to `last` inclusive (a date range of a manual run)."""
    from datetime import timedelta

    start = datetime.strptime(str(parse_night(first)), "%Y%m%d").date()
    end = datetime.strptime(str(parse_night(last)), "%Y%m%d").date()
    if end < start:
        raise ConfigurationError(f"the range ends ({last}) before it starts ({first})")
    return [int((start + timedelta(days=i)).strftime("%Y%m%d")) for i in range((end - start).days + 1)]
