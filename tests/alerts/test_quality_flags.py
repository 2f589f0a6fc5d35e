"""Quality cuts flag alerts (never drop them) and name every cut that failed."""

from __future__ import annotations

import pyarrow as pa

from siskin.alerts.decoder import quality_flags
from siskin.config import QualityCuts


def test_quality_flags_name_every_failed_cut() -> None:
    alerts = pa.table(
        {
            "rb": pa.array([0.9, 0.3, None, 0.7, 0.1], pa.float32()),
            "nbad": pa.array([0, 0, 0, 2, 1], pa.int32()),
            "fid": pa.array([1, 2, 1, 3, 3], pa.int32()),
        }
    )
    ok, reason = quality_flags(alerts, QualityCuts())
    assert ok.to_pylist() == [True, False, False, False, False]
    assert reason.to_pylist() == [None, "rb<0.55", "rb=null", "nbad>0;fid=3", "rb<0.55;nbad>0;fid=3"]


def test_quality_cuts_come_from_the_settings() -> None:
    alerts = pa.table({"rb": [0.5], "nbad": [3], "fid": [3]})
    ok, reason = quality_flags(alerts, QualityCuts(rb_min=0.4, nbad_max=5, excluded_fids=[]))
    assert ok.to_pylist() == [True] and reason.to_pylist() == [None]


def test_quality_flags_on_real_alerts(decoded_real) -> None:
    ok, reason = quality_flags(decoded_real.alerts, QualityCuts())
    assert len(ok) == decoded_real.alerts.num_rows
    assert 0 < ok.false_count < len(ok)
    assert reason.null_count == ok.true_count


def _rubin(**columns: list) -> pa.Table:  # type: ignore[type-arg]
    base = {
        "psfFlux": [1000.0, 1000.0, 1000.0, 1000.0, 100.0, None],
        "psfFluxErr": [10.0, 10.0, 10.0, 10.0, 50.0, 10.0],
        "isDipole": [False, True, None, False, False, False],
        "pixelFlags_saturated": [False, False, False, True, False, False],
        "psfFlux_flag": [False, False, False, False, False, False],
    }
    base.update(columns)
    return pa.table(base)


def test_rubin_cuts_flag_dipoles_bad_pixels_and_low_psf_snr() -> None:
    from siskin.alerts.quality import rubin_quality_flags

    ok, reason = rubin_quality_flags(_rubin(), QualityCuts())
    assert ok.to_pylist() == [True, False, True, False, False, False]
    reasons = reason.to_pylist()
    assert reasons[0] is None and reasons[2] is None  # a null flag counts as not set
    assert reasons[1] == "isDipole" and reasons[3] == "pixelFlags_saturated"
    assert reasons[4] == "psf_snr<5" and reasons[5] == "psf_snr=null"


def test_rubin_cuts_follow_the_settings() -> None:
    from siskin.alerts.quality import rubin_quality_flags

    cuts = QualityCuts(rubin_psf_snr_min=1.0, rubin_bad_flags=["pixelFlags_saturated"])
    ok, _ = rubin_quality_flags(_rubin(), cuts)
    assert ok.to_pylist() == [True, True, True, False, True, False]
