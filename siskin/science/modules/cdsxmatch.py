"""Remote labels from the CDS xMatch service: `cdsxmatch` (SIMBAD main type) and Gaia DR3 per alert.

`cdsxmatch` is the SIMBAD `main_type` of the nearest SIMBAD object within `science.cds.simbad_radius_arcsec`
(1"), "Unknown" when there is none, and "Fail" ("Fail <status>" for an HTTP error) when the service
could not be asked: it was down, slow, answered garbage, or its circuit breaker is still open after a
recent failure (`siskin.science.xmatch.cds`). `DR3Name`, `Plx`, `e_Plx` come the same way from Gaia DR3
(`vizier:I/355/gaiadr3`); their Fail is `DR3Name` "Fail" with null parallaxes. Column names and
values follow the reference broker, so its labels compare one to one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.science.base import Output, ScienceModule
from siskin.science.registry import register
from siskin.science.tables import RUBIN_ALERTS, ZTF_ALERTS

if TYPE_CHECKING:
    from siskin.config import CdsSettings, Settings
    from siskin.science.xmatch.cds import Answer

UNKNOWN = "Unknown"


class _Remote(ScienceModule):
    """Shared: bind to the service settings, ask for finite positions only."""

    inputs = ("ra", "dec")

    def bind(self, settings: Settings) -> None:
        """Learn the service URL, timeout, radius and breaker cool-down."""
        self._cds: CdsSettings = settings.science.cds

    def _settings(self) -> CdsSettings:
        if not hasattr(self, "_cds"):
            from siskin.config import load_settings

            self.bind(load_settings())
        return self._cds

    def _ask(self, batch: pa.Table, catalog: str, columns: list[str], radius: float) -> Answer:
        """The service's answer for every row (rows without a finite position: no match, never sent)."""
        from siskin.science.xmatch.cds import Answer, CdsClient

        ra = batch.column("ra").to_numpy().astype(np.float64)
        dec = batch.column("dec").to_numpy().astype(np.float64)
        ok = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        answer = CdsClient(self._settings()).xmatch(ra[ok], dec[ok], catalog, columns, radius)
        if len(ok) == len(ra):
            return answer
        n = len(ra)
        values = {}
        for column, array in answer.values.items():
            full = np.full(n, None, dtype=object)
            full[ok] = array.to_numpy(zero_copy_only=False)
            values[column] = pa.array(full, pa.string())
        failed = np.zeros(n, dtype=bool)
        failed[ok] = answer.failed
        labels = np.full(n, None, dtype=object)
        labels[ok] = answer.labels
        return Answer(values, failed, labels)


def _labelled(answer: Answer, column: str) -> pa.Array:
    """The column with "Unknown" for no match and the Fail label for rows not asked."""
    values = pc.fill_null(pc.utf8_trim_whitespace(answer.values[column]), UNKNOWN)
    values = pc.if_else(pc.equal(values, ""), UNKNOWN, values)
    return pc.if_else(pa.array(answer.failed), pa.array(answer.labels, pa.string()), values)


CDSXMATCH_OUTPUT = Output("cdsxmatch", pa.string(), "SIMBAD main type of the nearest object (Unknown; Fail)")
GAIA_OUTPUTS = (
    Output("DR3Name", pa.string(), "Gaia DR3 designation of the nearest source (Unknown; Fail)"),
    Output("Plx", pa.float64(), "its parallax, mas (null: no match or Fail)"),
    Output("e_Plx", pa.float64(), "the parallax's error, mas"),
)


class _Simbad(_Remote):
    outputs = (CDSXMATCH_OUTPUT,)

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """SIMBAD main type per alert."""
        cds = self._settings()
        answer = self._ask(batch, "simbad", ["main_type"], cds.simbad_radius_arcsec)
        return {"cdsxmatch": _labelled(answer, "main_type")}


class _Gaia(_Remote):
    outputs = GAIA_OUTPUTS

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Gaia DR3 name and parallax per alert."""
        cds = self._settings()
        answer = self._ask(batch, cds.gaia_catalog, ["DR3Name", "Plx", "e_Plx"], cds.gaia_radius_arcsec)
        out: dict[str, pa.Array] = {"DR3Name": _labelled(answer, "DR3Name")}
        for column in ("Plx", "e_Plx"):
            text = pc.if_else(pa.array(answer.failed), pa.scalar(None, pa.string()), answer.values[column])
            out[column] = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64())
        return out


@register
class CdsXmatch(_Simbad):
    """ZTF: SIMBAD main type (`cdsxmatch`)."""

    name = "cdsxmatch"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS


@register
class RubinCdsXmatch(_Simbad):
    """Rubin: SIMBAD main type (`cdsxmatch`) of diaSource positions."""

    name = "rubin_cdsxmatch"
    version = "1.0.0"
    survey = "rubin"
    table = RUBIN_ALERTS


@register
class GaiaDr3(_Gaia):
    """ZTF: Gaia DR3 designation and parallax."""

    name = "gaia_dr3"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS


@register
class RubinGaiaDr3(_Gaia):
    """Rubin: Gaia DR3 designation and parallax."""

    name = "rubin_gaia_dr3"
    version = "1.0.0"
    survey = "rubin"
    table = RUBIN_ALERTS
