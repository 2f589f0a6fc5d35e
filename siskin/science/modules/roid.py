"""`roid`: the solar-system flag, in the broker convention (3 known, 2 candidate, 1 first, 0 not).

ZTF, the reference broker's rule (fink-science `roid_catcher`), applied in this order, later wins:
  1  `ndethist == 1`: ZTF has seen nothing else at this position (ndethist counts ZTF's own
     detections within 1.5" since the survey began, not this packet's history);
  2  `sgscore1 < 0.76` (no stellar PS1 counterpart) and `ndethist <= 2`;
  0  a PS1 source within 5" (`0 < distpsnr1 < 5`) clears 1 and 2;
  0  two detections in the packet (`nalerthist == 2`) more than 30 min apart (the time from the last
     `prv_candidates` entry to this one) clear 1 and 2: an asteroid does not stay put that long;
  0  `ndethist == 2` but one detection in the packet: the other is older than the history, clears 1 and 2;
  3  a known minor planet: `0 <= ssdistnr < 5"`, nearer than the PS1 source (`|distpsnr1| > ssdistnr`),
     seen few times (`ndethist <= 5`, `nalerthist <= 5`) and, unlike the reference broker, with a
     valid `ssmagnr` (`> 0`; ZTF writes -999 when there is no object) unless `require_ssmagnr` is off.
Every threshold is a config field. Null inputs make a comparison false (no rule fires on them).

Rubin: the survey's own solar-system association decides, as the reference broker does (its
`is_sso`, `is_first`). 3 when the diaSource is associated with a known object (`ssSource` or
`ssObject` present, or a non-zero `ssObjectId` in schemas before 10); 1 when its diaObject has one
diaSource (`diaObject.nDiaSources == 1`: the first detection, whatever history the packet carries);
0 otherwise (schemas without `nDiaSources` never give 1). 2 is never given: the ZTF candidate rule
leans on ZTF-only columns (ndethist, PS1 sgscore) and no equally defensible rule exists yet for Rubin.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science.base import ModuleConfig, Output, ScienceModule
from siskin.science.modules.nalerthist import detections
from siskin.science.paths import input_column
from siskin.science.registry import register
from siskin.science.tables import RUBIN_ALERTS, ZTF_ALERTS

ROID_OUTPUT = Output("roid", pa.int32(), "solar-system flag: 3 known, 2 candidate, 1 first detection, 0 not")


class RoidConfig(ModuleConfig):
    """Thresholds of the ZTF rule (defaults: the reference broker's)."""

    known_radius_arcsec: float = Field(default=5.0, gt=0)
    require_ssmagnr: bool = True
    known_max_ndethist: int = 5
    known_max_nalerthist: int = 5
    candidate_max_sgscore: float = 0.76
    candidate_max_ndethist: int = 2
    ps1_radius_arcsec: float = Field(default=5.0, ge=0)
    pair_max_minutes: float = Field(default=30.0, ge=0)


def _numbers(batch: pa.Table, name: str) -> np.ndarray:
    """A column as float64 with NaN for nulls, so comparisons on missing values are false."""
    return batch.column(name).to_numpy().astype(np.float64)


def _float32(batch: pa.Table, name: str) -> np.ndarray:
    """A float32 column as float32 (NaN for nulls): thresholds compare at the column's own precision."""
    return batch.column(name).to_numpy().astype(np.float32)


def minutes_since_last_history(batch: pa.Table) -> np.ndarray:
    """Minutes from the last `prv_candidates` entry (detection or limit) to the alert; NaN without history."""
    history = input_column(batch, "prv_candidates.jd")
    assert history is not None
    offsets = history.offsets.to_numpy()
    lengths = np.diff(offsets)
    has = (lengths > 0) & history.is_valid().to_numpy(zero_copy_only=False)
    jds = history.values.to_numpy(zero_copy_only=False).astype(np.float64)
    last = np.full(len(history), np.nan)
    last[has] = jds[offsets[1:][has] - 1]
    return (_numbers(batch, "jd") - last) * 24.0 * 60.0


@register
class Roid(ScienceModule):
    """ZTF solar-system flag."""

    name = "roid"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = (
        "jd",
        "magpsf",
        "ndethist",
        "sgscore1",
        "distpsnr1",
        "ssdistnr",
        "ssmagnr",
        "prv_candidates.jd",
        "prv_candidates.magpsf",
    )
    outputs = (ROID_OUTPUT,)
    Config = RoidConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """The rule of the module docstring, as whole-column masks."""
        c = self.config
        assert isinstance(c, RoidConfig)
        ndethist = _numbers(batch, "ndethist")
        nalerthist = detections(batch)
        sgscore1, distpsnr1 = _float32(batch, "sgscore1"), _float32(batch, "distpsnr1")
        ssdistnr, ssmagnr = _float32(batch, "ssdistnr"), _float32(batch, "ssmagnr")
        flags = np.zeros(batch.num_rows, np.int32)
        flags[ndethist == 1] = 1
        flags[(sgscore1 < c.candidate_max_sgscore) & (ndethist <= c.candidate_max_ndethist)] = 2
        flags[(distpsnr1 > 0) & (distpsnr1 < c.ps1_radius_arcsec)] = 0
        flags[(nalerthist == 2) & (minutes_since_last_history(batch) > c.pair_max_minutes)] = 0
        flags[(ndethist == 2) & (nalerthist == 1)] = 0
        known = (
            (ssdistnr >= 0)
            & (ssdistnr < c.known_radius_arcsec)
            & (np.abs(distpsnr1) - ssdistnr > 0)
            & (ndethist <= c.known_max_ndethist)
            & (nalerthist <= c.known_max_nalerthist)
        )
        if c.require_ssmagnr:
            known &= ssmagnr > 0
        flags[known] = 3
        return {"roid": pa.array(flags, pa.int32())}


class RubinRoidConfig(ModuleConfig):
    """Whether the diaSource's own `ssObjectId` (schemas before 10) counts as an association."""

    use_diasource_ssobjectid: bool = True


@register
class RubinRoid(ScienceModule):
    """Rubin solar-system flag, from the survey's own association (`ssSource`, `ssObject`)."""

    name = "rubin_roid"
    version = "1.0.0"
    survey = "rubin"
    table = RUBIN_ALERTS
    inputs = ("ssObjectId", "ssSource.ssObjectId", "ssObject.ssObjectId", "diaObject.nDiaSources")
    outputs = (ROID_OUTPUT,)
    Config = RubinRoidConfig

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """3 when associated, else 1 for a diaObject's first diaSource, else 0."""
        c = self.config
        assert isinstance(c, RubinRoidConfig)
        known = pc.or_kleene(batch.column("ssSource").is_valid(), batch.column("ssObject").is_valid())
        if c.use_diasource_ssobjectid:
            own = pc.fill_null(pc.not_equal(batch.column("ssObjectId"), 0), False)
            known = pc.or_(known, own)
        sources = input_column(batch, "diaObject.nDiaSources")
        assert sources is not None
        first = pc.fill_null(pc.equal(sources, 1), False)
        flags = pc.if_else(known, 3, pc.if_else(first, 1, 0))
        return {"roid": pc.cast(flags, pa.int32()).combine_chunks()}
