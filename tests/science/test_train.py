"""`siskin train`: deterministic training, artefacts with cards, and the peer-pickle reader's safety."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from siskin.cli.main import main
from siskin.science.base import ScienceError
from siskin.science.forest import from_bytes
from siskin.science.peer_models import forest_from_pickle, read_pickle
from siskin.science.train import Trained, train_snia, write_trained_snia

SMALL = {"seed": 7, "n_objects": 60, "n_trees": 8}


@pytest.fixture(scope="module")
def trained() -> Trained:
    """One small training run shared by the tests that only read it."""
    return train_snia(**SMALL)


def test_same_seed_same_artefact_bytes_and_metrics(tmp_path: Path, trained: Trained) -> None:
    first, second = trained, train_snia(**SMALL)
    a = write_trained_snia(tmp_path / "a", first, seed=7, objects=60, trees=8)
    b = write_trained_snia(tmp_path / "b", second, seed=7, objects=60, trees=8)
    assert a["sha256"] == b["sha256"] and a["metrics"] == b["metrics"]
    assert (tmp_path / "a/forest.npz").read_bytes() == (tmp_path / "b/forest.npz").read_bytes()
    other = train_snia(seed=8, n_objects=60, n_trees=8)
    c = write_trained_snia(tmp_path / "c", other, seed=8, objects=60, trees=8)
    assert c["sha256"] != a["sha256"]


def test_card_reports_held_out_metrics_and_says_the_data_is_synthetic(
    tmp_path: Path, trained: Trained
) -> None:
    card = write_trained_snia(tmp_path, trained, seed=7, objects=60, trees=8)
    assert trained.n_test > 0 and trained.n_train > trained.n_test
    assert set(card["metrics"]) == {"precision", "recall", "accuracy"}
    assert all(0.0 <= v <= 1.0 for v in card["metrics"].values())
    assert "synthetic" in card["training"]["data"]
    readme = (tmp_path / "README.md").read_text()
    assert "Not a science result" in readme and f"precision {card['metrics']['precision']}" in readme


def test_cli_trains_and_prints_the_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "snia", "--out", str(tmp_path / "m"), "--seed", "7", "--objects", "60", "--trees", "8"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sha256"] == json.loads((tmp_path / "m/model.json").read_text())["sha256"]
    assert printed["training"]["seed"] == 7


def test_cli_refuses_a_missing_peer_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "snia", "--out", str(tmp_path), "--from-peer", str(tmp_path / "none.obj")]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_pickled_forest_is_read_without_scikit_learn_code(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] > 0.2).astype(int)
    model = RandomForestClassifier(n_estimators=6, random_state=1).fit(x, y)
    path = tmp_path / "rf.pkl"
    path.write_bytes(pickle.dumps(model))
    forest, params = forest_from_pickle(path)
    assert params["n_estimators"] == 6 and params["n_features"] == 4
    assert np.abs(forest.predict_proba(x) - model.predict_proba(x)).max() < 1e-12


def test_reader_refuses_pickles_that_run_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ScienceError, match="refusing to load"):
        read_pickle(path)


def test_cli_exports_a_peer_style_mulens_forest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 47))
    y = np.array(["CONSTANT", "CV", "ML", "VARIABLE"])[rng.integers(0, 4, 120)]
    model = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=2).fit(x, y)
    (tmp_path / "peer").mkdir()
    (tmp_path / "peer/rf.sav").write_bytes(pickle.dumps(model))
    assert (
        main(["train", "mulens", "--from-peer", str(tmp_path / "peer"), "--out", str(tmp_path / "out")]) == 0
    )
    card = json.loads(capsys.readouterr().out)
    assert card["classes"] == ["CONSTANT", "CV", "ML", "VARIABLE"] and len(card["features"]) == 47
    assert card["source"]["sha256"] == hashlib.sha256((tmp_path / "peer/rf.sav").read_bytes()).hexdigest()
    assert (tmp_path / "out/NOTICE").is_file() and "Apache" in (tmp_path / "out/README.md").read_text()
    forest = from_bytes((tmp_path / "out/forest.npz").read_bytes())
    assert np.abs(forest.predict_proba(x) - model.predict_proba(x)).max() < 1e-12
