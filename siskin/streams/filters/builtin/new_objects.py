"""`new_objects`: ZTF's first detection at a position (nothing seen there before), real and positive."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.streams.filters.base import Filter, FilterConfig
from siskin.streams.filters.registry import register

POSITIVE = pa.array(["t", "1"])


class NewObjectsConfig(FilterConfig):
    """Real-bogus floor for a first detection."""

    min_drb: float = Field(default=0.5, ge=0, le=1)


@register
class NewObjects(Filter):
    """`ndethist == 1` (ZTF's count of detections at this position since the survey began, this one
    included), a positive difference and `drb >= min_drb`: the broker convention's first detection
    (`roid` 1 before its solar-system and PS1 tests)."""

    name = "new_objects"
    description = (
        "ZTF first detections: no earlier detection within 1.5 arcsec, positive difference, drb >= 0.5"
    )
    version = "1.0.0"
    survey = "ztf"
    inputs = ("ndethist", "isdiffpos", "drb")
    Config = NewObjectsConfig

    def keep(self, batch: pa.Table) -> pa.Array:
        """Three column tests combined."""
        c = self.config
        assert isinstance(c, NewObjectsConfig)
        first = pc.equal(self.column(batch, "ndethist"), 1)
        positive = pc.is_in(self.column(batch, "isdiffpos"), value_set=POSITIVE)
        real = pc.greater_equal(self.column(batch, "drb"), pa.scalar(c.min_drb, pa.float32()))
        return pc.and_kleene(pc.and_kleene(first, positive), real)
