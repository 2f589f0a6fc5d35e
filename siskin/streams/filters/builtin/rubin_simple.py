"""Rubin versions of the survey-level standard filters: bright transients, new objects, solar system.

Rubin fluxes are in nJy (AB magnitude = 31.4 - 2.5 log10(flux)); `reliability` is the survey's
real-bogus score (null in schemas or alerts without it: such alerts do not pass a reliability cut
unless `min_reliability` is None).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.streams.filters.base import Filter, FilterConfig
from siskin.streams.filters.registry import register

NJY_ZERO_POINT = 31.4  # AB magnitude of 1 nJy


def flux_of(magnitude: float) -> float:
    """The flux in nJy of an AB magnitude."""
    return float(10 ** ((NJY_ZERO_POINT - magnitude) / 2.5))


class RubinBrightConfig(FilterConfig):
    """Magnitude cut and reliability floor."""

    max_mag: float = 19.0
    min_reliability: float | None = Field(default=None, ge=0, le=1)


@register
class RubinBrightTransients(Filter):
    """`psfFlux` brighter than `max_mag`, a positive difference (`isNegative` false)."""

    name = "rubin_bright_transients"
    description = "Rubin diaSources brighter than magnitude 19 (PSF flux), positive difference"
    version = "1.0.0"
    survey = "rubin"
    inputs = ("psfFlux", "isNegative", "reliability")
    Config = RubinBrightConfig

    def keep(self, batch: pa.Table) -> pa.Array:
        """Flux above the cut's flux, not negative, reliable enough when asked."""
        c = self.config
        assert isinstance(c, RubinBrightConfig)
        bright = pc.greater(self.column(batch, "psfFlux"), pa.scalar(flux_of(c.max_mag), pa.float32()))
        kept = pc.and_kleene(bright, pc.invert(self.column(batch, "isNegative")))
        if c.min_reliability is not None:
            reliable = pc.greater_equal(self.column(batch, "reliability"), pa.scalar(c.min_reliability))
            kept = pc.and_kleene(kept, reliable)
        return kept


@register
class RubinNewObjects(Filter):
    """The diaObject's first diaSource (`diaObject.nDiaSources == 1`), positive difference."""

    name = "rubin_new_objects"
    description = "Rubin first detections: the diaObject has one diaSource, positive difference"
    version = "1.0.0"
    survey = "rubin"
    inputs = ("diaObject.nDiaSources", "isNegative")

    def keep(self, batch: pa.Table) -> pa.Array:
        """One diaSource, not negative."""
        first = pc.equal(self.column(batch, "diaObject.nDiaSources"), 1)
        return pc.and_kleene(first, pc.invert(self.column(batch, "isNegative")))


@register
class RubinSolarSystem(Filter):
    """Associated with a known solar-system object by the survey (`roid == 3` from `rubin_roid`)."""

    name = "rubin_solar_system"
    description = "Rubin diaSources the survey associated with a known solar-system object (roid 3)"
    version = "1.0.0"
    survey = "rubin"
    inputs = ("roid",)

    def keep(self, batch: pa.Table) -> pa.Array:
        """The flag is 3."""
        return pc.equal(self.column(batch, "roid"), 3)
