"""Where science modules are found: built-ins under `siskin.science.modules`, plugins by entry point.

A module is added without touching the pipeline: decorate its class with `@register` in a module of
`siskin.science.modules`, or publish it from another package under the `siskin.science` entry-point
group (the entry point names the class, or a module whose import registers classes).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, TypeVar

from siskin.science.base import ModuleConfig, ScienceError, ScienceModule

ENTRY_POINT_GROUP = "siskin.science"
BUILTIN_PACKAGE = "siskin.science.modules"

M = TypeVar("M", bound=type[ScienceModule])

_MODULES: dict[str, type[ScienceModule]] = {}
_discovered: list[bool] = []


def register(cls: M) -> M:
    """Class decorator: make a science module available by its `name` (a second class of that name errs)."""
    for attribute in ("name", "version", "survey", "table", "inputs", "outputs"):
        if not hasattr(cls, attribute):
            raise ScienceError(f"science module {cls.__qualname__} does not declare {attribute!r}")
    known = _MODULES.get(cls.name)
    if known is not None and known is not cls:
        raise ScienceError(
            f"science module name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}"
        )
    _MODULES[cls.name] = cls
    return cls


def discover() -> None:
    """Import the built-in modules and load the `siskin.science` entry points (once per process)."""
    if _discovered:
        return
    _discovered.append(True)
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__, f"{BUILTIN_PACKAGE}."):
        importlib.import_module(info.name)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if isinstance(loaded, type) and issubclass(loaded, ScienceModule):
            register(loaded)


def available(survey: str | None = None) -> dict[str, type[ScienceModule]]:
    """Every registered module class by name (optionally only those reading one survey's alerts)."""
    discover()
    return {n: c for n, c in _MODULES.items() if survey is None or c.survey == survey}


def build(
    names: Sequence[str] | None = None,
    *,
    survey: str | None = None,
    configs: Mapping[str, ModuleConfig | Mapping[str, Any]] | None = None,
) -> list[ScienceModule]:
    """Instances of the named modules (default: all of `survey`), each with its config from `configs`."""
    known = available(survey)
    wanted = list(known) if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ScienceError(f"unknown science modules {unknown}; known: {', '.join(sorted(known)) or 'none'}")
    configs = configs or {}
    extra = set(configs) - set(wanted)
    if extra:
        raise ScienceError(f"configs given for modules that are not run: {sorted(extra)}")
    return [known[n](configs.get(n)) for n in wanted]
