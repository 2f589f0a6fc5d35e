"""Early SN Ia score: the peer's published values on real alerts, agreement, each cut on synthetic rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from science_rows import ztf_rows

from siskin.science import sigmoid
from siskin.science.base import ScienceError
from siskin.science.compare import compare, peer_files, read_parquet
from siskin.science.forest import artefact_bytes, from_trees
from siskin.science.modules.snia import SniaScore, card, forest
from siskin.science.runner import run_modules

JD = 2461000.5
DATATEST = "ztf/fink_processed/fink-science/datatest"
# fink-science 7.4.0's documentation of this model (rfscore_sigmoid_full doctest) prints, for the
# alerts of its test set whose stored score (written by fink-science 0.4.8) is on the left, the
# current model's score on the right.
PEER_DOCUMENTED = {0.785: 0.674, 0.88: 0.816, 0.777: 0.693}


def rising(
    nights: int, *, band_shift: float = 0.0, start: float = 19.6, step: float = 0.35
) -> list[dict[str, Any]]:
    """History points of a light curve brightening every night in g and r."""
    points = []
    for k in range(nights):
        for fid, shift in ((1, band_shift), (2, 0.0)):
            points.append(
                {
                    "jd": JD - 2 * (nights - k),
                    "fid": fid,
                    "magpsf": start + shift - step * k,
                    "sigmapsf": 0.05,
                }
            )
    return points


def scores(rows: list[dict[str, Any]], **config: Any) -> list[float]:
    base = {"fid": 2, "sigmapsf": 0.05, "ndethist": 5}
    out = run_modules(ztf_rows([base | r for r in rows]), [SniaScore(config)])
    return out.column("rf_snia_vs_nonia").to_pylist()


def test_peer_documented_scores_reproduced_on_its_test_alerts(shared_data: Path) -> None:
    found = {}
    for path in sorted((shared_data / DATATEST).glob("*.parquet")):
        item = read_parquet(path)
        ours = run_modules(item.alerts, [SniaScore()], keys=("objectId", "candid"))
        theirs = dict(
            zip(item.peer["candid"].to_pylist(), item.peer["rf_snia_vs_nonia"].to_pylist(), strict=True)
        )
        for candid, score in zip(
            ours["candid"].to_pylist(), ours["rf_snia_vs_nonia"].to_pylist(), strict=True
        ):
            if theirs[candid] in PEER_DOCUMENTED:
                found[theirs[candid]] = score
    assert sorted(found) == sorted(PEER_DOCUMENTED)
    for old, new in PEER_DOCUMENTED.items():
        assert found[old] == pytest.approx(new, abs=1e-3), (old, found[old])


def test_agreement_with_current_peer_output_is_complete(shared_data: Path) -> None:
    """Files written by fink-science >= 3 carry this rule's values; all of them agree."""
    files = [shared_data / "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"]
    files += peer_files(shared_data / "ztf/fink_processed/fink-broker")
    report = compare(files, [SniaScore()]).columns[("ztf", "rf_snia_vs_nonia")]
    assert report.compared == 58
    assert report.rate == 1.0, report.disagreements


def test_no_history_one_point_scores_zero() -> None:
    assert scores([{"jd": JD, "magpsf": 18.0}]) == [0.0]


def test_fewer_than_four_points_scores_zero_even_when_rising() -> None:
    history = rising(4)[:2]  # two history points + the current one: 3 magnitudes
    assert scores([{"jd": JD, "magpsf": 18.0, "prv_candidates": history}]) == [0.0]


def test_rising_in_both_bands_gets_a_probability_and_the_fit_features() -> None:
    history = rising(5)
    row = {"jd": JD, "magpsf": 17.6, "prv_candidates": history}
    [score] = scores([row])
    assert 0.0 < score <= 1.0
    curves = sigmoid.light_curves(ztf_rows([{"fid": 2, "sigmapsf": 0.05, "ndethist": 5} | row]))
    features = sigmoid.sigmoid_features(curves, np.array([0]))[0]
    assert features[0] > 0 and features[6] > 0  # a_g, a_r: both bands fitted
    assert features[5] == 5 and features[11] == 6  # nights: g 5, r 5 + the current candidate's night


def test_one_band_only_scores_zero() -> None:
    history = [p for p in rising(6) if p["fid"] == 2]
    assert scores([{"jd": JD, "magpsf": 17.4, "prv_candidates": history}]) == [0.0]


def test_a_fading_band_scores_zero() -> None:
    history = [p if p["fid"] == 2 else p | {"magpsf": 17.0 + 0.3 * i} for i, p in enumerate(rising(5))]
    assert scores([{"jd": JD, "magpsf": 17.6, "prv_candidates": history}]) == [0.0]


def test_old_objects_are_cut_by_ndethist() -> None:
    row = {"jd": JD, "magpsf": 17.6, "prv_candidates": rising(5)}
    young, old = scores([row, row | {"ndethist": 21}])
    assert young > 0.0 and old == 0.0
    assert scores([row | {"ndethist": 21}], max_ndethist=30)[0] == young


def test_upper_limits_do_not_count_as_points() -> None:
    limits = [{"jd": JD - 10 + k, "fid": 1, "magpsf": None, "sigmapsf": None} for k in range(6)]
    assert scores([{"jd": JD, "magpsf": 18.0, "prv_candidates": limits}]) == [0.0]


def test_simbad_label_cut_applies_when_the_label_is_in_the_batch() -> None:
    row = {"fid": 2, "sigmapsf": 0.05, "ndethist": 5, "jd": JD, "magpsf": 17.6, "prv_candidates": rising(5)}
    batch = ztf_rows([row, row])
    labelled = batch.append_column("cdsxmatch", pa.array(["Unknown", "RRLyr"]))
    plain = run_modules(batch, [SniaScore()])["rf_snia_vs_nonia"].to_pylist()
    cut = run_modules(labelled, [SniaScore()])["rf_snia_vs_nonia"].to_pylist()
    assert plain[0] > 0 and cut == [plain[0], 0.0]
    failed = batch.append_column("cdsxmatch", pa.array(["Fail", None], pa.string()))  # no answer: not cut
    assert run_modules(failed, [SniaScore()])["rf_snia_vs_nonia"].to_pylist() == plain


def test_artefact_is_checked_against_its_card() -> None:
    meta = card()
    assert meta["source"]["package"] == "fink-science" and meta["features"] == list(sigmoid.FEATURE_NAMES)
    assert len(forest().roots) == meta["trees"] == 1000
    with pytest.raises(ScienceError, match="does not match its sha256"):
        artefact_bytes("siskin.science", "artefacts/snia/forest.npz", "0" * 64)


def test_numpy_forest_equals_scikit_learn() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 + rng.normal(0, 0.3, 300) > 0.4).astype(int)
    model = RandomForestClassifier(n_estimators=15, random_state=0).fit(x[:200], y[:200])
    trees = [
        (
            e.tree_.children_left,
            e.tree_.children_right,
            e.tree_.feature,
            e.tree_.threshold,
            e.tree_.value[:, 0, :],
        )
        for e in model.estimators_
    ]
    ours = from_trees(trees, 5).predict_proba(x[200:])
    assert np.abs(ours - model.predict_proba(x[200:])).max() < 1e-12
    assert 0.0 < ours[:, 1].mean() < 1.0


def test_a_forest_trained_by_siskin_train_is_loaded_by_path(tmp_path: Path) -> None:
    from siskin.science.train import train_snia, write_trained_snia

    write_trained_snia(
        tmp_path / "m", train_snia(seed=5, n_objects=60, n_trees=6), seed=5, objects=60, trees=6
    )
    row = {"jd": JD, "magpsf": 17.6, "prv_candidates": rising(5)}
    batch = ztf_rows([{"fid": 2, "sigmapsf": 0.05, "ndethist": 5} | row])
    features = sigmoid.sigmoid_features(sigmoid.light_curves(batch), np.array([0]))
    trained = forest(str(tmp_path / "m/model.json"))
    assert len(trained.roots) == 6
    expected = trained.predict_proba(features)[0, 1]
    assert scores([row], model=str(tmp_path / "m/model.json")) == [pytest.approx(expected, abs=1e-12)]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/model.json").write_text((tmp_path / "m/model.json").read_text())
    (tmp_path / "bad/forest.npz").write_bytes((tmp_path / "m/forest.npz").read_bytes()[:-1] + b"x")
    with pytest.raises(ScienceError, match="does not match its sha256"):
        scores([row], model=str(tmp_path / "bad/model.json"))


def _scipy_default_fit(t: np.ndarray, flux: np.ndarray) -> tuple[float, float, float]:
    """The fit as the peer runs it: scipy's `least_squares` with its defaults."""
    from scipy.optimize import least_squares

    return sigmoid.fit_sigmoid(t, flux, solve=lambda fun, x0: least_squares(fun, x0).x)


def test_the_fit_is_bit_identical_to_scipys_finite_differences() -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        nights = int(rng.integers(4, 12))
        t = np.sort(rng.choice(np.arange(0.0, 30.0), nights, replace=False))
        t -= t[0]
        flux = np.sort(rng.uniform(1e3, 5e4, nights)) * rng.uniform(0.8, 1.2, nights)
        assert sigmoid.fit_sigmoid(t, flux) == _scipy_default_fit(t, flux)


def test_fits_are_remembered_and_one_band_alerts_are_not_fitted() -> None:
    two = {"fid": 2, "sigmapsf": 0.05, "ndethist": 5, "jd": JD, "magpsf": 17.6, "prv_candidates": rising(5)}
    one = two | {"prv_candidates": [p for p in rising(6) if p["fid"] == 2], "magpsf": 17.4}
    curves = sigmoid.light_curves(ztf_rows([two, one]))
    sigmoid._FIT_CACHE.clear()
    every = sigmoid.sigmoid_features(curves, np.array([0, 1]))
    assert len(sigmoid._FIT_CACHE) == 3  # g and r of the first alert, r of the second
    assert every[1, 6] > 0 and every[1, 0] == 0  # the one-band alert has its r fit
    both = sigmoid.sigmoid_features(curves, np.array([0, 1]), both_bands=True)
    assert np.array_equal(both[0], every[0])  # a two-band alert: the same features, from the cache
    assert both[1, 6] == 0 and both[1, 11] == 0  # the one-band alert: no fit at all
    assert scores([two, one]) == [scores([two])[0], 0.0]
