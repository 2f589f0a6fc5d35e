"""Where science modules are found: built-ins under `siskin.science.modules`, plugins by entry point.

A module is added without touching the pipeline: decorate its class with `@register` in a module of
`siskin.science.modules`, or publish it from another package under the `siskin.science` entry-point
group (the entry point names the class, or a module whose import registers classes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from siskin.plugins import Registry
from siskin.science.base import ModuleConfig, ScienceError, ScienceModule

ENTRY_POINT_GROUP = "siskin.science"
BUILTIN_PACKAGE = "siskin.science.modules"

M = TypeVar("M", bound=type[ScienceModule])

MODULES: Registry[type[ScienceModule]] = Registry(
    "science module",
    ScienceModule,
    ("name", "version", "survey", "table", "inputs", "outputs"),
    BUILTIN_PACKAGE,
    ENTRY_POINT_GROUP,
    ScienceError,
)


def register(cls: M) -> M:
    """Class decorator: make a science module available by its `name` (a second class of that name errs)."""
    MODULES.register(cls)
    return cls


def discover() -> None:
    """Import the built-in modules and load the `siskin.science` entry points (once per process)."""
    MODULES.discover()


def available(survey: str | None = None) -> dict[str, type[ScienceModule]]:
    """Every registered module class by name (optionally only those reading one survey's alerts)."""
    return MODULES.available(survey)


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
