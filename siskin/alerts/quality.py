"""Silver quality cuts: a flag plus a reason listing every failed cut, never a filter."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from siskin.alerts.columns import join_reasons, labelled
from siskin.config import QualityCuts


def _column(alerts: pa.Table, name: str, dtype: pa.DataType) -> pa.Array:
    if name not in alerts.column_names:
        return pa.nulls(alerts.num_rows, dtype)
    return pc.cast(alerts.column(name).combine_chunks(), dtype)


def quality_flags(alerts: pa.Table, cuts: QualityCuts) -> tuple[pa.Array, pa.Array]:
    """(quality_ok, quality_reason) per alert: rb >= rb_min (null fails), nbad <= nbad_max, fid allowed.

    The reason joins every failed cut with ';' (e.g. "rb<0.55;nbad>0"), null when the alert passes.
    """
    rb = _column(alerts, "rb", pa.float64())
    nbad = _column(alerts, "nbad", pa.int64())
    fid = _column(alerts, "fid", pa.int64())
    low_rb = pc.fill_null(pc.less(rb, cuts.rb_min), False)
    reasons = join_reasons(
        [
            labelled(low_rb, f"rb<{cuts.rb_min}"),
            labelled(rb.is_null(), "rb=null"),
            labelled(pc.fill_null(pc.greater(nbad, cuts.nbad_max), False), f"nbad>{cuts.nbad_max}"),
            labelled(
                pc.fill_null(pc.is_in(fid, value_set=pa.array(cuts.excluded_fids, pa.int64())), False),
                pc.binary_join_element_wise("fid=", pc.cast(fid, pa.string()), ""),
            ),
        ],
        ";",
    )
    return pc.invert(reasons.is_valid()), reasons


def rubin_quality_flags(alerts: pa.Table, cuts: QualityCuts) -> tuple[pa.Array, pa.Array]:
    """(quality_ok, quality_reason) per Rubin alert: no bad flag set, |psfFlux / psfFluxErr| >= the minimum.

    A flag that is null counts as not set; a missing PSF flux or error fails the SNR cut ("psf_snr=null").
    """
    parts = []
    for flag in cuts.rubin_bad_flags:
        parts.append(labelled(pc.fill_null(_column(alerts, flag, pa.bool_()), False), flag))
    flux = _column(alerts, "psfFlux", pa.float64())
    err = _column(alerts, "psfFluxErr", pa.float64())
    snr = pc.abs(pc.divide(flux, err))
    low = pc.fill_null(pc.less(snr, cuts.rubin_psf_snr_min), False)
    parts.append(labelled(low, f"psf_snr<{cuts.rubin_psf_snr_min:g}"))
    parts.append(labelled(pc.or_(snr.is_null(), pc.is_nan(pc.fill_null(snr, 0.0))), "psf_snr=null"))
    reasons = join_reasons(parts, ";")
    return pc.invert(reasons.is_valid()), reasons
