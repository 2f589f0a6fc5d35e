"""The filter contract: a named, versioned, vectorised boolean mask over silver alert columns.

A filter declares its survey, the input columns it reads by full silver name (a dotted path reaches
into a struct or a list of structs, as science modules do), a description a subscriber reads, and a
version carried next to what it passed. Its thresholds live in a typed pydantic config that refuses
unknown keys. `mask(batch)` returns one non-null boolean per row: a null input never passes.

A stateful filter (one whose answer depends on what it already passed, such as a top N per night)
sets `stateful = True` and implements `seed(passed)`, which restores its state from the alerts it
passed before (read back from its output table) so a restarted stream decides as the first would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, ValidationError

from siskin.errors import SiskinError
from siskin.science.paths import input_column, input_type


class FilterError(SiskinError):
    """A filter broke its contract, is misconfigured, or its input columns are missing from the batch."""


class FilterConfig(BaseModel):
    """Base of every filter's settings: typed, immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(ABC):
    """One filter. Subclasses set the class attributes and implement `keep`."""

    name: ClassVar[str]  # unique: names the stream (topic, table) of what it passes
    description: ClassVar[str]  # one sentence for subscribers
    version: ClassVar[str]
    survey: ClassVar[str]  # "ztf" | "rubin": whose silver alerts it reads
    inputs: ClassVar[tuple[str, ...]]  # full column names it needs
    stateful: ClassVar[bool] = False
    Config: ClassVar[type[FilterConfig]] = FilterConfig

    def __init__(self, config: FilterConfig | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, FilterConfig):
            if not isinstance(config, self.Config):
                raise FilterError(f"filter {self.name}: config must be a {self.Config.__name__}")
            self.config: FilterConfig = config
        else:
            try:
                self.config = self.Config.model_validate(dict(config or {}))
            except ValidationError as exc:
                raise FilterError(f"filter {self.name}: invalid config: {exc}") from None

    def missing(self, schema: pa.Schema) -> list[str]:
        """The declared inputs `schema` lacks (a stream can skip a filter whose inputs are not produced)."""
        return [path for path in self.inputs if input_type(schema, path) is None]

    def column(self, batch: pa.Table, path: str) -> pa.Array:
        """One declared input column of `batch` as a single array."""
        values = input_column(batch, path)
        if values is None:
            raise FilterError(f"filter {self.name} needs column {path!r}, absent from the batch")
        return values

    def mask(self, batch: pa.Table) -> pa.BooleanArray:
        """One boolean per row of `batch`, nulls as False: which alerts this filter passes."""
        if gaps := self.missing(batch.schema):
            raise FilterError(f"filter {self.name} needs columns absent from the batch: {', '.join(gaps)}")
        kept = self.keep(batch)
        if isinstance(kept, pa.ChunkedArray):
            kept = kept.combine_chunks()
        if not pa.types.is_boolean(kept.type):
            raise FilterError(f"filter {self.name} returned {kept.type}, not a boolean mask")
        if len(kept) != batch.num_rows:
            raise FilterError(f"filter {self.name} returned {len(kept)} values for {batch.num_rows} alerts")
        result = pc.fill_null(kept, False)
        assert isinstance(result, pa.BooleanArray)
        return result

    def seed(self, passed: pa.Table) -> None:
        """Restore per-stream state from the alerts this filter already passed. Stateless: nothing."""
        del passed

    @abstractmethod
    def keep(self, batch: pa.Table) -> pa.Array | pa.ChunkedArray:
        """The boolean mask (nulls allowed: they do not pass), whole columns at a time."""
