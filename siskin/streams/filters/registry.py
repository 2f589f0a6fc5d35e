"""Where filters are found: built-ins under `siskin.streams.filters.builtin`, plugins by entry point.

A filter is added without touching the distribution stage: decorate its class with `@register` in a
module of `siskin.streams.filters.builtin`, or publish it from another package under the
`siskin.filters` entry-point group (the entry point names the class, or a module whose import
registers classes). Filters written as configuration (`declarative.DeclarativeFilter`) are passed to
`build` as specs and never reach `eval`/`exec`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from siskin.plugins import Registry
from siskin.streams.filters.base import Filter, FilterConfig, FilterError

ENTRY_POINT_GROUP = "siskin.filters"
BUILTIN_PACKAGE = "siskin.streams.filters.builtin"

F = TypeVar("F", bound=type[Filter])

FILTERS: Registry[type[Filter]] = Registry(
    "filter",
    Filter,
    ("name", "description", "version", "survey", "inputs"),
    BUILTIN_PACKAGE,
    ENTRY_POINT_GROUP,
    FilterError,
)


def register(cls: F) -> F:
    """Class decorator: make a filter available by its `name` (a second class of that name errs)."""
    FILTERS.register(cls)
    return cls


def discover() -> None:
    """Import the built-in filters and load the `siskin.filters` entry points (once per process)."""
    FILTERS.discover()


def available(survey: str | None = None) -> dict[str, type[Filter]]:
    """Every registered filter class by name (optionally only those reading one survey's alerts)."""
    return dict(sorted(FILTERS.available(survey).items()))


def build(
    names: Sequence[str] | None = None,
    *,
    survey: str | None = None,
    configs: Mapping[str, FilterConfig | Mapping[str, Any]] | None = None,
    declared: Sequence[Mapping[str, Any]] = (),
) -> list[Filter]:
    """Instances of the named filters (default: all of `survey`), each with its config from `configs`,
    then one `DeclarativeFilter` per spec in `declared` (of that survey).

    `configs` may hold configs of other surveys' filters (one settings dict serves every survey); a
    config for a filter no survey has is refused."""
    from siskin.streams.filters.declarative import DeclarativeFilter

    known = available(survey)
    wanted = list(known) if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise FilterError(f"unknown filters {unknown}; known: {', '.join(sorted(known)) or 'none'}")
    configs = configs or {}
    if extra := set(configs) - set(available(None)) - set(wanted):  # another survey's filter's config is fine
        raise FilterError(f"configs given for unknown filters: {sorted(extra)}")
    built: list[Filter] = [known[n](configs.get(n)) for n in wanted]
    for spec in declared:
        made = DeclarativeFilter.from_spec(spec)
        if survey is None or made.survey == survey:
            built.append(made)
    names_seen = [f.name for f in built]
    if len(set(names_seen)) != len(names_seen):
        raise FilterError(f"filter names must be unique: {sorted(names_seen)}")
    return built
