"""Plugin registries: classes found by name, built-ins imported from a package, others by entry point.

Science modules (`siskin.science.registry`) and filters (`siskin.streams.filters.registry`) are both
added without touching the pipeline: a class decorated with its registry's `register` in a module of
the built-in package, or a class (or a module whose import registers classes) published under the
registry's entry-point group by another package.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes of one kind by their `name`; discovery runs once per process."""

    def __init__(
        self,
        kind: str,
        base: type,
        required: tuple[str, ...],
        builtin_package: str,
        entry_point_group: str,
        error: Callable[[str], Exception],
    ) -> None:
        self.kind = kind
        self.base = base
        self.required = required
        self.builtin_package = builtin_package
        self.entry_point_group = entry_point_group
        self.error = error
        self.classes: dict[str, T] = {}
        self._discovered = False

    def register(self, cls: T) -> T:
        """Make a class available by its `name`; a second class of the same name is refused."""
        for attribute in self.required:
            if not hasattr(cls, attribute):
                raise self.error(f"{self.kind} {cls.__qualname__} does not declare {attribute!r}")
        name = cls.name  # type: ignore[attr-defined]
        known = self.classes.get(name)
        if known is not None and known is not cls:
            raise self.error(f"{self.kind} name {name!r} is taken by {known.__module__}.{known.__qualname__}")
        self.classes[name] = cls
        return cls

    def discover(self) -> None:
        """Import the built-in package's modules and load the entry points (once per process)."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.builtin_package)
        for info in pkgutil.iter_modules(package.__path__, f"{self.builtin_package}."):
            importlib.import_module(info.name)
        for point in entry_points(group=self.entry_point_group):
            loaded = point.load()
            if isinstance(loaded, type) and issubclass(loaded, self.base):
                self.register(loaded)  # type: ignore[arg-type]

    def available(self, survey: str | None = None) -> dict[str, T]:
        """Every registered class by name in registration order (optionally only those of one survey)."""
        self.discover()
        return {
            n: c for n, c in self.classes.items() if survey is None or getattr(c, "survey", None) == survey
        }
