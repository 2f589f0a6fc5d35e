"""`solar_system`: known minor planets (roid 3) and, by default, solar-system candidates (roid 2)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from siskin.streams.filters.base import Filter, FilterConfig
from siskin.streams.filters.registry import register


class SolarSystemConfig(FilterConfig):
    """Whether candidates (roid 2) pass besides known objects (roid 3)."""

    include_candidates: bool = True


@register
class SolarSystem(Filter):
    """`roid == 3`, or `roid in (2, 3)` with candidates."""

    name = "solar_system"
    description = (
        "Solar-system objects: known minor planets (MPC, roid 3) and solar-system candidates (roid 2)"
    )
    version = "1.0.0"
    survey = "ztf"
    inputs = ("roid",)
    Config = SolarSystemConfig

    def keep(self, batch: pa.Table) -> pa.Array:
        """The flag against the accepted values."""
        c = self.config
        assert isinstance(c, SolarSystemConfig)
        wanted = pa.array([2, 3] if c.include_candidates else [3], pa.int32())
        return pc.is_in(pc.cast(self.column(batch, "roid"), pa.int32()), value_set=wanted)
