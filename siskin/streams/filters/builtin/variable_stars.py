"""`variable_stars`: alerts matched to a known variable star (SIMBAD variable type, VSX stellar, GCVS)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from siskin.science.classes.labels import SIMBAD_VARIABLE_STARS
from siskin.science.classes.rules import ClassConfig, Columns, variable_star
from siskin.streams.filters.base import Filter, FilterConfig
from siskin.streams.filters.registry import register


class VariableStarsConfig(FilterConfig):
    """Which catalogs count."""

    simbad: bool = True
    vsx_gcvs: bool = True


@register
class VariableStars(Filter):
    """A SIMBAD label in `SIMBAD_VARIABLE_STARS`, a VSX stellar variability type, or any GCVS type.

    Runs with whichever of the three label columns the batch carries (at least one is needed).
    """

    name = "variable_stars"
    description = (
        'Alerts on known variable stars: SIMBAD variable-star type (1"), VSX stellar type or GCVS type (1.5")'
    )
    version = "1.0.0"
    survey = "ztf"
    inputs = ("cdsxmatch", "gcvs", "vsx")
    Config = VariableStarsConfig

    def missing(self, schema: pa.Schema) -> list[str]:
        """Missing only when none of the three label columns is there."""
        present = [n for n in self.inputs if schema.get_field_index(n) >= 0]
        return [] if present else [" or ".join(self.inputs)]

    def keep(self, batch: pa.Table) -> pa.Array:
        """Any enabled catalog's label says variable star."""
        c = self.config
        assert isinstance(c, VariableStarsConfig)
        cols = Columns(batch)
        hit = np.zeros(batch.num_rows, bool)
        if c.simbad and cols.has("cdsxmatch"):
            hit |= cols.isin("cdsxmatch", SIMBAD_VARIABLE_STARS)
        if c.vsx_gcvs:
            hit |= variable_star(cols, ClassConfig(), {})
        return pa.array(hit)
