"""`bright_transients`: ZTF alerts brighter than magnitude 19, real and brighter than the reference."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.streams.filters.base import Filter, FilterConfig
from siskin.streams.filters.registry import register

POSITIVE = pa.array(["t", "1"])  # `isdiffpos`: science minus reference is positive


class BrightConfig(FilterConfig):
    """Magnitude cut and real-bogus floor."""

    max_mag: float = 19.0
    min_drb: float = Field(default=0.5, ge=0, le=1)


@register
class BrightTransients(Filter):
    """`magpsf < max_mag`, a positive difference (`isdiffpos` t/1) and `drb >= min_drb`."""

    name = "bright_transients"
    description = (
        "ZTF alerts brighter than magnitude 19 (PSF fit), positive difference, deep real-bogus >= 0.5"
    )
    version = "1.0.0"
    survey = "ztf"
    inputs = ("magpsf", "isdiffpos", "drb")
    Config = BrightConfig

    def keep(self, batch: pa.Table) -> pa.Array:
        """Three column tests combined."""
        c = self.config
        assert isinstance(c, BrightConfig)
        bright = pc.less(self.column(batch, "magpsf"), pa.scalar(c.max_mag, pa.float32()))
        positive = pc.is_in(self.column(batch, "isdiffpos"), value_set=POSITIVE)
        real = pc.greater_equal(self.column(batch, "drb"), pa.scalar(c.min_drb, pa.float32()))
        return pc.and_kleene(pc.and_kleene(bright, positive), real)
