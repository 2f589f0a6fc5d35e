"""The kilonova module: agreement with the peer broker on real alerts, its cuts, its rule, its artefacts."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from science_rows import ztf_rows

from siskin.science.base import ScienceError
from siskin.science.compare import read_parquet
from siskin.science.forest import from_bytes
from siskin.science.kilonova import export, features
from siskin.science.modules.classification import FinkClass
from siskin.science.modules.kilonova import ARTEFACTS, KilonovaScore, card, model
from siskin.science.runner import run_modules

JD = 2461000.5
DATATEST = "ztf/fink_processed/fink-science/datatest"  # written by fink-science 0.4.8 (2021)
SLSN = "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"  # written by fink-science 8.15.0
TOLERANCE = 1e-6


def _agreement(paths: list[Path], config: dict[str, Any]) -> tuple[int, int, list[float]]:
    """(agreeing, compared, the peer's non-zero scores that we reproduce)."""
    agree = compared = 0
    positives: list[float] = []
    for path in paths:
        item = read_parquet(path)
        assert item is not None
        ours = run_modules(item.alerts, [KilonovaScore(config)], keys=("objectId", "candid"))
        theirs = dict(
            zip(item.peer["candid"].to_pylist(), item.peer["rf_kn_vs_nonkn"].to_pylist(), strict=True)
        )
        for candid, score in zip(ours["candid"].to_pylist(), ours["rf_kn_vs_nonkn"].to_pylist(), strict=True):
            compared += 1
            if abs(score - theirs[candid]) <= TOLERANCE:
                agree += 1
                if theirs[candid] > 0:
                    positives.append(theirs[candid])
    return agree, compared, sorted(positives)


def test_current_peer_scores_reproduced(shared_data: Path) -> None:
    """fink-science 8.15.0 (kndetect): all 55 alerts, its 2 non-zero scores included."""
    agree, compared, positives = _agreement([shared_data / SLSN], {})
    assert (agree, compared) == (55, 55)
    assert positives == pytest.approx([0.1, 7 / 30])


def test_2021_peer_scores_reproduced(shared_data: Path) -> None:
    """fink-science 0.4.8 (2-PC least squares, no cuts): all 124 alerts, its 11 non-zero scores included."""
    paths = sorted((shared_data / DATATEST).glob("*.parquet"))
    agree, compared, positives = _agreement(paths, {"model": "fink2021"})
    assert (agree, compared) == (124, 124)
    assert len(positives) == 11


def test_the_2021_values_are_not_the_current_models(shared_data: Path) -> None:
    """The 2021 file's values need the 2021 model: the current rule disagrees on some of them."""
    agree, compared, _ = _agreement(sorted((shared_data / DATATEST).glob("*.parquet")), {})
    assert compared == 124 and agree < compared


def _fast(rate_g: float = 1.0, rate_r: float = 0.8, nights: int = 3) -> list[dict[str, Any]]:
    """A kilonova-like light curve: a 0.5 mag rise to the peak, then a fast decline (mag/day) in g and r."""
    points = []
    for k in range(nights):
        for fid, peak, rate in ((1, 18.5, rate_g), (2, 18.7, rate_r)):
            mag = peak + (0.5 if k == 0 else rate * (k - 1))
            points.append(
                {"jd": JD - nights + k + 0.01 * (fid - 1), "fid": fid, "magpsf": mag, "sigmapsf": 0.05}
            )
    return points


def _row(curve: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The curve's last point becomes the alert (0.2 d later, 0.1 mag fainter), the rest its history."""
    last = curve[-1]
    return {
        "jd": last["jd"] + 0.2,
        "fid": last["fid"],
        "magpsf": last["magpsf"] + 0.1,
        "sigmapsf": 0.05,
        "ndethist": len(curve),
        "jdstarthist": curve[0]["jd"],
        "prv_candidates": curve[:-1],
    } | extra


def batch(rows: list[dict[str, Any]]) -> pa.Table:
    """Silver rows, plus the other modules' columns the rows give (`cdsxmatch`, `roid`)."""
    table = ztf_rows(rows)
    for name, kind in (("cdsxmatch", pa.string()), ("roid", pa.int32())):
        if any(name in r for r in rows):
            table = table.append_column(name, pa.array([r.get(name) for r in rows], kind))
    return table


def score(*rows: dict[str, Any], **config: Any) -> list[float]:
    return run_modules(batch(list(rows)), [KilonovaScore(config)]).column("rf_kn_vs_nonkn").to_pylist()


def test_fast_decline_scores_high_slow_supernova_low() -> None:
    slow = _fast(0.02, 0.02, nights=6)
    fast, slow_score = score(_row(_fast()), _row(slow))
    assert fast > 0.5
    assert slow_score < 0.5


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ndethist": 21}, "more than 20 detections"),
        ({"jdstarthist": JD - 30}, "older than 20 days"),
        ({"cdsxmatch": "Star"}, "a SIMBAD star"),
    ],
)
def test_peer_cuts_give_zero(change: dict[str, Any], why: str) -> None:
    assert score(_row(_fast()))[0] > 0
    assert score(_row(_fast(), **change)) == [0.0], why


def test_one_band_only_or_faint_scores_zero() -> None:
    row = _row([p for p in _fast() if p["fid"] == 1])
    faint = [p | {"magpsf": p["magpsf"] + 4.0} for p in _fast()]  # flux <= 200: no fit
    assert score(row, _row(faint, magpsf=23.5)) == [0.0, 0.0]


def test_upper_limits_are_not_points() -> None:
    limits = [{"jd": JD - 3 + 0.1 * k, "fid": 1 + k % 2, "magpsf": None} for k in range(6)]
    assert score(
        {
            "jd": JD,
            "fid": 1,
            "magpsf": 18.0,
            "sigmapsf": 0.05,
            "ndethist": 1,
            "jdstarthist": JD,
            "prv_candidates": limits,
        }
    ) == [0.0]


def test_kilonova_rule_fires_on_the_modules_output() -> None:
    base = {"drb": 0.99, "classtar": 0.9, "roid": 0, "cdsxmatch": "Unknown", "jdstarthist": JD - 3}
    rows = [_row(_fast(), **base), _row(_fast(0.02, 0.02, nights=6), **base | {"jdstarthist": JD - 6})]
    out = run_modules(batch(rows), [KilonovaScore(), FinkClass()])
    assert out.column("rf_kn_vs_nonkn")[0].as_py() > 0.5
    assert out.column("finkclass").to_pylist() == ["Kilonova candidate", "Unknown"]


def _reference_lstsq(pts: features.Points, alert: int, pcs: np.ndarray) -> list[float]:
    """The peer's 2021 per-band fit, written plainly with numpy's lstsq (one alert, one band at a time)."""
    out: list[float] = []
    grid = np.arange(-50, 50.25, 0.25)
    for band in (0, 1):
        sel = (pts.alert == alert) & (pts.band == band)
        t, f = pts.jd[sel], pts.flux[sel]
        if len(f) < 2:
            out += [0.0] * 5
            continue
        epochs = t - t[int(np.argmax(f))]
        used, means = [], []
        for i, g in enumerate(grid):
            m = (epochs >= g - 0.125) & (epochs < g + 0.125)
            if m.any():
                used.append(i)
                means.append(np.mean(f[m]))
        y = np.array(means)
        x, res, _, _ = np.linalg.lstsq(pcs[:, used].T, y / y.max(), rcond=None)
        out += [len(used), res[0] if len(res) else 0.0, *x, y.max()]
    return out


def test_batched_2021_fit_equals_per_alert_lstsq(shared_data: Path) -> None:
    item = read_parquet(sorted((shared_data / DATATEST).glob("*.parquet"))[0])
    assert item is not None
    pts = features.points(item.alerts)
    rows = np.arange(item.alerts.num_rows)
    pcs = model("fink2021").pcs
    ours = features.fink2021_features(pts, rows, pcs)
    expected = np.array([_reference_lstsq(pts, int(r), pcs) for r in rows])
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["kndetect", "fink2021"])
def test_artefacts_match_their_cards(name: str) -> None:
    meta = card(name)
    folder = Path(__file__).parents[2] / "siskin" / "science" / ARTEFACTS
    for entry in (meta["forest"], meta["pcs"]):
        assert hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    loaded = model(name)
    assert loaded.forest.n_features == len(meta["features"]) == 10
    assert len(loaded.forest.roots) == meta["trees"] == 30
    assert (folder / "NOTICE").is_file() and (folder / "LICENSE.kndetect").is_file()


def test_a_tampered_card_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from siskin.science.modules import kilonova

    real = kilonova.card("kndetect")
    monkeypatch.setattr(kilonova, "_cache", {})
    monkeypatch.setattr(
        kilonova, "card", lambda name: real | {"forest": real["forest"] | {"sha256": "0" * 64}}
    )
    with pytest.raises(ScienceError, match="sha256"):
        kilonova.model("kndetect")


def test_export_of_a_scikit_learn_pipeline_equals_scikit_learn(tmp_path: Path) -> None:
    """The exporter reads a real pickled RobustScaler + forest; the numpy evaluation equals scikit-learn."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import RobustScaler

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 10)) * rng.uniform(1, 100, size=10)
    y = x[:, 2] + x[:, 7] > 0
    pipe = make_pipeline(RobustScaler(), RandomForestClassifier(n_estimators=7, random_state=0)).fit(x, y)
    src = tmp_path / "src"
    src.mkdir()
    (src / "KN_model_2PC.pkl").write_bytes(pickle.dumps(pipe))
    table = np.vstack([np.arange(-50.0, 50.25, 0.25), rng.normal(size=(3, 401))])
    np.savetxt(src / "components.csv", table, delimiter=",")
    out = tmp_path / "out"
    out.mkdir()
    meta = export.export_fink2021(src, out)
    forest = from_bytes((out / meta["forest"]["file"]).read_bytes())
    scaled = (x - np.array(meta["scaler"]["center"])) / np.array(meta["scaler"]["scale"])
    np.testing.assert_allclose(forest.predict_proba(scaled), pipe.predict_proba(x), atol=1e-12)
    assert json.loads((out / "fink2021.json").read_text())["forest"]["sha256"] == meta["forest"]["sha256"]
    again = tmp_path / "again"
    again.mkdir()
    assert export.export_fink2021(src, again) == meta  # same input, same bytes


def _scipy_minimize(problem: features.BandProblem) -> np.ndarray:
    """kndetect's own call: scipy's `minimize` (L-BFGS-B, finite differences) of its loss."""
    from scipy.optimize import minimize

    return np.asarray(minimize(problem.loss, np.zeros(3) + 0.5, bounds=[[-2, 2]] * 3).x)


def _assert_fits_bit_identical(alerts: pa.Table, rows: np.ndarray) -> int:
    """The module's features equal those from scipy's own minimiser, bit for bit; the number of fits."""
    from threadpoolctl import threadpool_limits

    pts = features.points(alerts)
    pcs = model("kndetect").pcs
    fits: list[features.BandProblem] = []

    def reference(problem: features.BandProblem) -> np.ndarray:
        fits.append(problem)
        return _scipy_minimize(problem)

    with threadpool_limits(1):  # scipy's BLAS threads only slow tiny problems down (same results)
        expected = features.kndetect_features(pts, rows, pcs, solve=reference)
    features._FIT_CACHE.clear()  # every fit computed here, none remembered from an earlier test
    ours = features.kndetect_features(pts, rows, pcs)
    assert ours.tobytes() == expected.tobytes(), np.argwhere(ours != expected)[:5]
    return len(fits)


def test_fits_are_bit_identical_to_scipys_on_every_shared_alert(shared_data: Path) -> None:
    """Every band of every alert in the peer files (no cuts: more fits than the module makes)."""
    n_fits = 0
    for path in sorted((shared_data / "ztf/fink_processed").rglob("*.parquet")):
        item = read_parquet(path)
        if item is None or not item.alerts.num_rows:
            continue
        n_fits += _assert_fits_bit_identical(item.alerts, np.arange(item.alerts.num_rows))
    assert n_fits > 100


def _simulated_alerts(n: int) -> pa.Table:
    from siskin.alerts.decoder import decode_payloads
    from siskin.config import Settings
    from siskin.simulate.ztf import simulate_night

    payloads = list(simulate_night(20261121, n_alerts=n, seed=11))  # the latency benchmark's night
    return decode_payloads(pa.array(payloads, pa.binary()), Settings().decode).alerts


@pytest.mark.parametrize("n_alerts", [2000, pytest.param(15000, marks=pytest.mark.slow, id="15000-slow")])
def test_fits_are_bit_identical_to_scipys_on_a_simulated_night(n_alerts: int) -> None:
    """The fits the module makes on the latency benchmark's simulated night (young objects, many fits)."""
    from siskin.science.modules.kilonova import KilonovaConfig, eligible

    alerts = _simulated_alerts(n_alerts)
    pts = features.points(alerts)
    rows = np.flatnonzero(eligible(alerts, pts, KilonovaConfig()) & features.kndetect_fittable(pts))
    assert _assert_fits_bit_identical(alerts, rows) == 2 * len(rows) > n_alerts // 20


def test_fits_are_remembered_and_fitted_once_per_distinct_band(monkeypatch: pytest.MonkeyPatch) -> None:
    """An object's g curve is the same in its r alert and in its next r alert: one fit, the same values."""
    history = _fast(nights=3)
    first = {"jd": JD + 0.2, "fid": 2, "magpsf": 19.3, "sigmapsf": 0.05}
    second = {"jd": JD + 1.2, "fid": 2, "magpsf": 20.1, "sigmapsf": 0.05}
    rows = [
        first | {"ndethist": 7, "jdstarthist": JD - 3, "prv_candidates": history},
        second | {"ndethist": 8, "jdstarthist": JD - 3, "prv_candidates": [*history, first]},
    ]
    pts = features.points(batch(rows))
    pcs = model("kndetect").pcs
    fitted: list[int] = []
    solve_many = features.solve_lean_many

    def counted(problems: list[features.BandProblem]) -> np.ndarray:
        fitted.append(len(problems))
        return solve_many(problems)

    monkeypatch.setattr(features, "solve_lean_many", counted)
    features._FIT_CACHE.clear()
    once = features.kndetect_features(pts, np.array([0, 1]), pcs)
    assert fitted == [3] and len(features._FIT_CACHE) == 3  # g (shared), r of each alert
    assert (
        np.array_equal(once[0, :5], once[1, :5]) and once[0, 0] != 0 and not np.array_equal(once[0], once[1])
    )
    again = features.kndetect_features(pts, np.array([1, 0]), pcs)
    assert fitted == [3, 0] and again.tobytes() == once[::-1].tobytes()  # all remembered
    expected = features.kndetect_features(pts, np.array([0, 1]), pcs, solve=_scipy_minimize)
    assert expected.tobytes() == once.tobytes()


def test_batched_losses_equal_kndetects_loss_bit_for_bit() -> None:
    """The batched loss (per problem and stacked per size) has the bits of kndetect's scalar loss,
    sizes 2..60 (numpy's pairwise sums change blocking at 8 and beyond), negative 1st coefficients too."""
    rng = np.random.default_rng(5)
    problems = [
        features.BandProblem(
            *rng.normal(size=(3, size)),
            flux=rng.uniform(0, 1, size),
            err=rng.uniform(0.01, 0.3, size),
            weight=float(rng.uniform(1, 1e4)),
        )
        for size in rng.integers(2, 61, 150)
    ]
    coeffs = rng.uniform(-2, 2, size=(len(problems), 4, 3))
    expected = np.array([[p.loss(c) for c in cs] for p, cs in zip(problems, coeffs, strict=True)])
    alone = np.array([p.losses(cs) for p, cs in zip(problems, coeffs, strict=True)])
    which = rng.permutation(len(problems))
    stacked = features._Stacked(problems).losses(which, coeffs[which])
    assert alone.tobytes() == expected.tobytes()
    assert stacked.tobytes() == expected[which].tobytes()
    assert (coeffs[:, :, 0] < 0).any() and len({len(p.flux) for p in problems}) > 40
