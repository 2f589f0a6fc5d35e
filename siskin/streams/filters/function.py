"""A user filter as a small Python function over named columns: `@filter_function(...)` makes it a Filter.

    import pyarrow.compute as pc
    from siskin.streams.filters.function import filter_function

    @filter_function(name="bright_red", description="r band, brighter than 18", version="1",
                     inputs=("magpsf", "fid"))
    def bright_red(magpsf, fid):
        return pc.and_(pc.less(magpsf, 18), pc.equal(fid, 2))

The function receives the declared input columns (whole Arrow arrays, in `inputs` order) and returns
one boolean per row (Arrow or numpy; nulls do not pass). The decorator returns the Filter class it
made and registers it, so a plugin package publishes it under the `siskin.filters` entry points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from siskin.streams.filters.base import Filter, FilterError
from siskin.streams.filters.registry import register

MaskFunction = Callable[..., Any]


def filter_function(
    *,
    name: str,
    description: str,
    version: str,
    inputs: Sequence[str],
    survey: str = "ztf",
    registered: bool = True,
) -> Callable[[MaskFunction], type[Filter]]:
    """Decorator: a Filter class (registered unless `registered=False`) calling the function."""

    def make(function: MaskFunction) -> type[Filter]:
        def keep(self: Filter, batch: pa.Table) -> pa.Array | pa.ChunkedArray:
            result = function(*(self.column(batch, path) for path in self.inputs))
            if isinstance(result, np.ndarray):
                if result.dtype != np.bool_:
                    raise FilterError(
                        f"filter {self.name} returned a numpy {result.dtype} array, not booleans"
                    )
                return pa.array(result)
            if not isinstance(result, pa.Array | pa.ChunkedArray):
                raise FilterError(
                    f"filter {self.name} returned {type(result).__name__}, not a boolean column"
                )
            return result

        attributes = {
            "name": name,
            "description": description,
            "version": version,
            "survey": survey,
            "inputs": tuple(inputs),
            "keep": keep,
            "__doc__": function.__doc__ or description,
            "__module__": function.__module__,
        }
        cls = type(f"FunctionFilter_{name}", (Filter,), attributes)
        return register(cls) if registered else cls

    return make
