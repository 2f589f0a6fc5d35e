"""Where filters are found: built-ins under `siskin.streams.filters.builtin`, plugins by entry point.

A filter is added without touching the distribution stage: decorate its class with `@register` in a
module of `siskin.streams.filters.builtin`, or publish it from another package under the
`siskin.filters` entry-point group (the entry point names the class, or a module whose import
registers classes). Filters written as configuration (`declarative.DeclarativeFilter`) are passed to
`build` as specs and never reach `eval`/`exec`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, TypeVar

from siskin.streams.filters.base import Filter, FilterConfig, FilterError

ENTRY_POINT_GROUP = "siskin.filters"
BUILTIN_PACKAGE = "siskin.streams.filters.builtin"

F = TypeVar("F", bound=type[Filter])

_FILTERS: dict[str, type[Filter]] = {}
_discovered: list[bool] = []


def register(cls: F) -> F:
    """Class decorator: make a filter available by its `name` (a second class of that name errs)."""
    for attribute in ("name", "description", "version", "survey", "inputs"):
        if not hasattr(cls, attribute):
            raise FilterError(f"filter {cls.__qualname__} does not declare {attribute!r}")
    known = _FILTERS.get(cls.name)
    if known is not None and known is not cls:
        raise FilterError(f"filter name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}")
    _FILTERS[cls.name] = cls
    return cls


def discover() -> None:
    """Import the built-in filters and load the `siskin.filters` entry points (once per process)."""
    if _discovered:
        return
    _discovered.append(True)
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__, f"{BUILTIN_PACKAGE}."):
        importlib.import_module(info.name)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if isinstance(loaded, type) and issubclass(loaded, Filter):
            register(loaded)


def available(survey: str | None = None) -> dict[str, type[Filter]]:
    """Every registered filter class by name (optionally only those reading one survey's alerts)."""
    discover()
    return {n: c for n, c in sorted(_FILTERS.items()) if survey is None or c.survey == survey}


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
