"""What gold reads of each survey's silver alerts, in one survey-neutral shape.

Gold folds ZTF and Rubin alerts the same way: per alert its survey, object, alert key, time (JD),
band, PSF magnitude and error, position, real-bogus/reliability score, quality flag and night.
Each survey says here how its silver columns map onto that shape (columnar, no per-alert Python).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GOLD_INPUT_SCHEMA = pa.schema(
    [
        pa.field("survey", pa.string()),
        pa.field("objectId", pa.string()),
        pa.field("candid", pa.int64()),
        pa.field("jd", pa.float64()),
        pa.field("band", pa.string()),
        pa.field("mag", pa.float64()),
        pa.field("magerr", pa.float64()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("rb", pa.float64()),
        pa.field("quality_ok", pa.bool_()),
        pa.field("night", pa.int32()),
        pa.field("class", pa.string()),  # the alert's final class (science), null when not classified
        pa.field("class_version", pa.string()),  # the class rules' version that gave it
    ]
)

# The silver columns holding each alert's final class and its version (the `finkclass` module).
CLASS_COLUMNS = ("finkclass", "finkclass_version")

ZTF_BANDS = pa.array(["g", "r", "i"])  # fid 1, 2, 3
MJD_TO_JD = 2400000.5
NJY_AB_ZERO_POINT = 31.4  # AB magnitude of 1 nJy
MAG_PER_FLUX_RATIO = 2.5 / np.log(10.0)


@dataclass(frozen=True)
class SurveyInputs:
    """The silver columns gold reads from one survey's table, and how they map to `GOLD_INPUT_SCHEMA`."""

    survey: str
    columns: tuple[str, ...]
    conform: Callable[[pa.Table], pa.Table]


def _ztf(alerts: pa.Table) -> pa.Table:
    n = alerts.num_rows
    fid = pc.cast(alerts.column("fid"), pa.int64())
    index = pc.if_else(pc.and_(pc.greater_equal(fid, 1), pc.less_equal(fid, 3)), pc.subtract(fid, 1), None)
    return _table(
        alerts,
        {
            "survey": pa.repeat(pa.scalar("ztf"), n),
            "objectId": alerts.column("objectId"),
            "candid": alerts.column("candid"),
            "jd": alerts.column("jd"),
            "band": pc.take(ZTF_BANDS, index),
            "mag": alerts.column("magpsf"),
            "magerr": alerts.column("sigmapsf"),
            "rb": alerts.column("rb"),
        },
    )


def _rubin(alerts: pa.Table) -> pa.Table:
    n = alerts.num_rows
    flux = pc.cast(alerts.column("psfFlux"), pa.float64()).to_numpy(zero_copy_only=False)
    err = pc.cast(alerts.column("psfFluxErr"), pa.float64()).to_numpy(zero_copy_only=False)
    positive = np.nan_to_num(flux, nan=-1.0) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(positive, NJY_AB_ZERO_POINT - 2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan)
        magerr = np.where(positive, MAG_PER_FLUX_RATIO * np.abs(err / np.where(positive, flux, 1.0)), np.nan)
    mjd = pc.cast(alerts.column("midpointMjdTai"), pa.float64())
    return _table(
        alerts,
        {
            "survey": pa.repeat(pa.scalar("rubin"), n),
            "objectId": pc.cast(alerts.column("diaObjectId"), pa.string()),
            "candid": alerts.column("diaSourceId"),
            "jd": pc.add(mjd, MJD_TO_JD),
            "band": alerts.column("band"),
            "mag": pa.array(mag, pa.float64(), mask=~np.isfinite(mag)),
            "magerr": pa.array(magerr, pa.float64(), mask=~np.isfinite(magerr)),
            "rb": alerts.column("reliability"),
        },
    )


def _table(alerts: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
    for name in ("ra", "dec", "quality_ok", "night"):
        columns[name] = alerts.column(name)
    n = alerts.num_rows
    for name, source in zip(("class", "class_version"), CLASS_COLUMNS, strict=True):
        columns[name] = alerts.column(source) if source in alerts.column_names else pa.nulls(n, pa.string())
    arrays = [pc.cast(columns[f.name], f.type) for f in GOLD_INPUT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=GOLD_INPUT_SCHEMA)


SURVEYS: dict[str, SurveyInputs] = {
    "ztf": SurveyInputs(
        "ztf",
        ("objectId", "candid", "jd", "fid", "magpsf", "sigmapsf", "ra", "dec", "rb", "quality_ok", "night"),
        _ztf,
    ),
    "rubin": SurveyInputs(
        "rubin",
        (
            "diaObjectId",
            "diaSourceId",
            "midpointMjdTai",
            "band",
            "psfFlux",
            "psfFluxErr",
            "ra",
            "dec",
            "reliability",
            "quality_ok",
            "night",
        ),
        _rubin,
    ),
}


def read_columns(survey: str) -> list[str]:
    """The silver columns gold reads of a survey's table: the mapped ones and the class, when present."""
    return [*SURVEYS[survey].columns, *CLASS_COLUMNS]


def gold_inputs(survey: str, alerts: pa.Table) -> pa.Table:
    """A survey's silver alerts (at least `SURVEYS[survey].columns`) in the gold input shape."""
    return SURVEYS[survey].conform(alerts)
