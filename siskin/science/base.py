"""The science module contract: what a module reads, what it writes (names and types), and its version.

A module declares its input columns by full silver name (`ssdistnr`; a dotted path reaches into a
struct or a list of structs: `prv_candidates.magpsf`), its output columns with their Arrow types, the
catalog table those outputs land in, and a version string carried next to its outputs. It receives a
whole Arrow table of silver alerts (with their history columns) and returns whole columns: no
per-alert Python. Its thresholds live in a typed pydantic config that refuses unknown keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from siskin.errors import SiskinError

if TYPE_CHECKING:
    from siskin.config import Settings


class ScienceError(SiskinError):
    """A science module broke its contract, or its inputs are missing from the batch."""


class ModuleConfig(BaseModel):
    """Base of every module's settings: typed, immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Output:
    """One output column: its name, Arrow type and meaning."""

    name: str
    type: pa.DataType
    description: str


class ScienceModule(ABC):
    """One science module. Subclasses set the class attributes and implement `compute`."""

    name: ClassVar[str]  # unique; `<name>_version` is the column carrying `version`
    version: ClassVar[str]
    survey: ClassVar[str]  # "ztf" | "rubin": whose silver alerts it reads
    table: ClassVar[str]  # the catalog table its outputs land in
    inputs: ClassVar[tuple[str, ...]]  # full column names (dotted paths into structs / lists of structs)
    # inputs the module copes without (absent from the batch: it sees no such column); e.g. a score that
    # only some deployments compute
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]]
    Config: ClassVar[type[ModuleConfig]] = ModuleConfig

    def __init__(self, config: ModuleConfig | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, ModuleConfig):
            if not isinstance(config, self.Config):
                raise ScienceError(f"{self.name}: config must be a {self.Config.__name__}")
            self.config: ModuleConfig = config
        else:
            try:
                self.config = self.Config.model_validate(dict(config or {}))
            except ValidationError as exc:
                raise ScienceError(f"{self.name}: invalid config: {exc}") from None

    def bind(self, settings: Settings) -> None:
        """Called once, where the module runs (a Spark task's worker), before `compute`: a module that
        needs the deployment (the lake's catalog tables, a service URL) reads it here. Default: nothing."""
        del settings

    @property
    def version_column(self) -> str:
        """Name of the column that carries this module's version next to its outputs."""
        return f"{self.name}_version"

    @abstractmethod
    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array | pa.ChunkedArray]:
        """Every declared output, one value per row of `batch`, in row order."""
