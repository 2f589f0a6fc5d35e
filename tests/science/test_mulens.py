"""Microlensing score: the peer's values on real alerts, its cuts on synthetic rows, the LIA statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from science_rows import ztf_rows

from siskin.science.compare import PEER_COLUMNS, compare, peer_files
from siskin.science.lia_features import FEATURE_NAMES, extract
from siskin.science.modules.mulens import MulensScore, card, dc_magnitudes
from siskin.science.runner import run_modules

JD = 2461000.5
SLSN = "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"


def event(
    n: int, *, u0: float = 0.5, te: float = 20.0, base: float = 18.0, fids: tuple[int, ...] = (1, 2)
) -> list:
    """History points of a point-lens event (difference magnitudes over a reference star of `base`)."""
    rng = np.random.default_rng(3)
    points: list[dict[str, Any]] = []
    for fid in fids:
        t = np.sort(rng.uniform(-3 * te, 3 * te, n))
        u = np.sqrt(u0**2 + (t / te) ** 2)
        gain = (u**2 + 2) / (u * np.sqrt(u**2 + 4))
        dc = base - 2.5 * np.log10(gain) + rng.normal(0, 0.02, n)
        flux = 10 ** (-0.4 * dc) - 10 ** (-0.4 * base)  # negative: a negative subtraction
        diff = -2.5 * np.log10(np.abs(flux))
        points += [
            {"jd": JD - 200 + ti, "fid": fid, "magpsf": float(m), "sigmapsf": 0.02, "magnr": base}
            | {"sigmagnr": 0.001, "isdiffpos": "t" if f > 0 else "f"}
            for ti, m, f in zip(t, diff, flux, strict=True)
        ]
    return points


def score(history: list[dict[str, Any]], **row: Any) -> float:
    base = {"jd": JD, "fid": 2, "magpsf": None, "sigmapsf": None, "ndethist": 60, "prv_candidates": history}
    return run_modules(ztf_rows([base | row]), [MulensScore()])["mulens"].to_pylist()[0]


def test_peer_scores_reproduced_on_real_alerts(shared_data: Path) -> None:
    files = peer_files(shared_data / "ztf/fink_processed")
    report = compare(files, [MulensScore()]).columns[("ztf", "mulens")]
    theirs = pq.read_table(shared_data / SLSN, columns=["mulens"])["mulens"].to_numpy()
    assert (theirs > 0).sum() == 14  # the peer found 14 microlensing-like alerts in this file
    assert report.compared == 182 and report.rate == 1.0, report.disagreements


def test_a_point_lens_event_in_both_bands_scores_its_ml_probability() -> None:
    value = score(event(25))
    assert 0.5 < value <= 1.0


def test_one_band_only_scores_zero() -> None:
    assert score(event(25)) > 0
    assert score(event(30, fids=(2,))) == 0.0


def test_too_few_points_or_old_objects_score_zero() -> None:
    few = event(9)  # 18 detections: under the 20 the peer asks for, and under 10 per band
    assert score(few) == 0.0
    assert score(event(25), ndethist=100) == 0.0
    assert score([]) == 0.0


def test_a_constant_star_is_not_microlensing() -> None:
    flat = [p | {"magpsf": 20.5 + 0.01 * (i % 3)} for i, p in enumerate(event(25))]
    assert score(flat) == 0.0


def test_dc_magnitudes_add_or_subtract_by_isdiffpos() -> None:
    p = {
        "magpsf": np.array([20.0, 20.0, 20.0]),
        "sigmapsf": np.array([0.1, 0.1, 0.1]),
        "magnr": np.array([18.0, 18.0, -999.0]),
        "sigmagnr": np.array([0.0, 0.0, 0.0]),
        "isdiffpos": np.array([True, False, True]),
    }
    mag, err = dc_magnitudes(p)
    assert mag[0] == pytest.approx(-2.5 * np.log10(10**-7.2 + 10**-8))
    assert mag[1] == pytest.approx(-2.5 * np.log10(10**-7.2 - 10**-8))
    assert np.isnan(mag[2]) and err[0] > 0


def test_lia_statistics_are_47_finite_values() -> None:
    rng = np.random.default_rng(0)
    stats = extract(18 + rng.normal(0, 0.1, 30), np.full(30, 0.05))
    assert len(stats) == len(FEATURE_NAMES) == 47 and np.isfinite(stats).all()
    assert stats[FEATURE_NAMES.index("count_above")] + stats[FEATURE_NAMES.index("count_below")] == 30


def test_older_peer_records_are_read_as_the_later_score() -> None:
    theirs = pa.array(
        [
            {"class_1": "ML", "ml_score_1": 0.6, "class_2": "ML", "ml_score_2": 0.4},
            {"class_1": "ML", "ml_score_1": 0.6, "class_2": "CV", "ml_score_2": 0.1},
            {"class_1": "", "ml_score_1": 0.0, "class_2": "", "ml_score_2": 0.0},
        ]
    )
    agree = PEER_COLUMNS["mulens"](pa.array([0.5, 0.0, 0.3]), theirs)
    assert agree.tolist() == [True, True, False]


def test_artefact_card_names_the_peer_source() -> None:
    meta = card()
    assert meta["source"]["file"] == "rf.sav" and meta["classes"] == ["CONSTANT", "CV", "ML", "VARIABLE"]
    assert meta["trees"] == 1000


def test_statistics_only_where_the_score_can_be_nonzero_and_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import siskin.science.modules.mulens as mulens

    calls: list[int] = []

    def counted(mag: np.ndarray, err: np.ndarray) -> np.ndarray:
        calls.append(len(mag))
        return extract(mag, err)

    monkeypatch.setattr(mulens.lia_features, "extract", counted)
    mulens._FEATURES.clear()
    base = {"jd": JD, "fid": 2, "magpsf": None, "sigmapsf": None, "ndethist": 60}
    lens, one_band = event(25), event(30, fids=(2,))
    batch = ztf_rows([base | {"prv_candidates": lens}, base | {"prv_candidates": one_band}])
    first = run_modules(batch, [MulensScore()])["mulens"].to_pylist()
    assert first[0] > 0 and first[1] == 0.0
    assert calls == [25, 25]  # the lens in g and r; the one-band alert is not computed at all
    again = run_modules(batch, [MulensScore()])["mulens"].to_pylist()
    assert again == first and calls == [25, 25]  # the same points: remembered
