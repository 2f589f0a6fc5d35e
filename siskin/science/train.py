"""`siskin train`: the models behind the score modules, as versioned artefacts with a model card.

Two ways an artefact comes to be:
  * exported: the peer broker's published random forest (a scikit-learn pickle that scikit-learn 1.9
    no longer loads) read array by array (`peer_models.py`) into a `forest.Forest` npz. Nothing is
    trained; the card records the source package, version, file and sha256.
  * trained: a random forest fitted here with a fixed seed on sigmoid features of synthetic light
    curves drawn by this module (`synthetic_light_curves`). That data is Siskin's own simulation, not
    observed supernovae: its metrics say the pipeline learns, not how well real SNe Ia are found.
Every artefact is a folder: the forest (`forest.npz`), `model.json` (file, sha256, features, source or
training data, metrics) and a human-readable `README.md` model card.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from siskin.science import sigmoid
from siskin.science.base import ScienceError
from siskin.science.forest import Forest, from_trees

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

FOREST_FILE = "forest.npz"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_artefact(out: Path, forest: Forest, meta: Mapping[str, Any], readme: str) -> dict[str, Any]:
    """Write the forest, its `model.json` card (with the forest's sha256) and README.md into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    data = forest.to_bytes()
    (out / FOREST_FILE).write_bytes(data)
    card = {"file": FOREST_FILE, "sha256": hashlib.sha256(data).hexdigest(), **meta}
    (out / "model.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out / "README.md").write_text(readme)
    return card


# --- exported: the peer's early SN Ia forest -------------------------------------------------------

SNIA_PEER_README = """# Early SN Ia random forest (`rf_snia_vs_nonia`)

**What:** the peer broker Fink's published early SN Ia classifier, `default-model_sigmoid.obj` from
the `fink-science` wheel ({version}) on PyPI, a scikit-learn {sklearn} `RandomForestClassifier`
({trees} trees, gini, bootstrap, random_state {seed}). Siskin did not train it.

**Why exported:** scikit-learn 1.9 refuses the pickle (tree nodes lack `missing_go_to_left`). Its
arrays were read without running any pickled code (`siskin/science/peer_models.py`) and written as
`forest.npz` (children, split feature, threshold, leaf class probabilities), evaluated with numpy
(`siskin/science/forest.py`) exactly as scikit-learn predicts (float32 inputs, `x <= threshold`).
Produced by: `siskin train snia --from-peer {pickle_name}`.

**Features (12):** per band g, r: `a, b, c` of the sigmoid fit `c / (1 + exp(-a (t - b)))` to the
rising nightly-averaged flux, `snratio`, `mse` of the normalised fit, `nrise` (Leoni et al. 2022,
A&A 663, A13; `siskin/science/sigmoid.py`).

**Training data (peer's):** ZTF alerts labelled by spectroscopic classification (TNS), selected by
active learning (Leoni et al. 2022). Siskin has no copy of it and cannot restate its metrics.

**Check done here:** on the peer's own test alerts (`fink-science/datatest`) Siskin's score equals
the values the peer's documentation prints for this model (0.674, 0.816, 0.693) to 1e-3
(`tests/science/test_snia.py`).

**Licence:** Apache-2.0 (fink-science, AstroLab Software); see `NOTICE`.

**Source:** {pickle_name}, sha256 `{pickle_sha256}`.
"""

NOTICE = """This folder holds a model derived from fink-science (https://github.com/astrolabsoftware/fink-science),
Copyright 2019-2025 AstroLab Software, licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0). The model's arrays were converted to another format
(numpy npz); the model itself is unchanged.
"""


def export_peer_forest(
    pickle_path: Path,
    out: Path,
    *,
    features: list[str],
    source_version: str,
    readme_template: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Export a peer's pickled random forest to a Siskin artefact folder; returns its card."""
    from siskin.science.peer_models import forest_from_pickle

    forest, params = forest_from_pickle(pickle_path)
    if params["n_features"] != len(features):
        raise ScienceError(f"{pickle_path} has {params['n_features']} features, expected {len(features)}")
    source_sha = sha256_file(pickle_path)
    meta = {
        "features": features,
        "classes": params["classes"],
        "kind": "exported",
        "source": {
            "package": "fink-science",
            "version": source_version,
            "file": pickle_path.name,
            "sha256": source_sha,
            "sklearn_version": params["sklearn_version"],
            "licence": "Apache-2.0",
        },
        "trees": params["n_estimators"],
        **(extra or {}),
    }
    readme = readme_template.format(
        version=source_version,
        sklearn=params["sklearn_version"],
        trees=params["n_estimators"],
        seed=params["random_state"],
        pickle_name=pickle_path.name,
        pickle_sha256=source_sha,
    )
    card = write_artefact(out, forest, meta, readme)
    (out / "NOTICE").write_text(NOTICE)
    return card


def export_snia(pickle_path: Path, out: Path, source_version: str = "7.4.0") -> dict[str, Any]:
    """The peer's early SN Ia forest as Siskin's `snia` artefact."""
    return export_peer_forest(
        pickle_path,
        out,
        features=list(sigmoid.FEATURE_NAMES),
        source_version=source_version,
        readme_template=SNIA_PEER_README,
    )


# --- trained: a forest fitted here on synthetic light curves ----------------------------------------


@dataclass(frozen=True)
class Trained:
    """A forest fitted here, with its held-out metrics."""

    forest: Forest
    metrics: dict[str, float]
    n_train: int
    n_test: int


def forest_from_sklearn(model: Any) -> Forest:
    """A fitted scikit-learn RandomForestClassifier (this process's) as a `Forest`."""
    trees = []
    for estimator in model.estimators_:
        tree = estimator.tree_
        trees.append(
            (
                tree.children_left.astype(np.int64),
                tree.children_right.astype(np.int64),
                tree.feature.astype(np.int64),
                tree.threshold.astype(np.float64),
                np.asarray(tree.value, dtype=np.float64)[:, 0, :],
            )
        )
    return from_trees(trees, int(model.n_features_in_))


def synthetic_light_curves(seed: int, n: int) -> tuple[sigmoid.LightCurves, I64]:
    """Rising light curves of `n` simulated transients (half SN Ia-like) and their labels (1 = Ia).

    Ia-like: flux rising as t^2 to a peak 15-21 days after explosion, g - r near 0 at peak. Others:
    a fast rise to a plateau (II-like: 1 - exp(-t / tau), tau 2-5 days, bluer) or a faster t^2 rise
    (6-12 days, Ibc-like, redder). Nights every 1-3 days in g and r (each band seen with probability
    0.9 a night), 0.02-0.06 mag noise, detections to 20.5 mag, from 0-6 days after explosion to
    0.6-1.1 rise times (1.2-2.2 for the plateaus). A toy population: the labels are the
    simulation's, not observed classes.
    """
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.5).astype(np.int64)
    kind = np.where(label == 1, 0, 1 + (rng.random(n) < 0.5))  # 0 Ia, 1 II-like, 2 Ibc-like
    rise = np.select(
        [kind == 0, kind == 1], [rng.uniform(15, 21, n), rng.uniform(2, 5, n)], rng.uniform(6, 12, n)
    )
    peak = rng.uniform(17.5, 20.0, n)
    colour = np.select(
        [kind == 0, kind == 1],
        [rng.normal(0.0, 0.08, n), rng.normal(-0.25, 0.08, n)],
        rng.normal(0.3, 0.1, n),
    )
    start = rng.uniform(0, 6, n)
    end = np.where(kind == 1, 2 * rise, rise) * rng.uniform(0.6, 1.1, n)
    nights = [start[i] + np.cumsum(rng.uniform(1, 3, 16)) for i in range(n)]  # bounded cadence draws
    alert, jd, fid, mag, err = [], [], [], [], []
    base_jd = 2460000.5
    for i in range(n):  # one object at a time: this is data generation, not a hot path
        t = nights[i][nights[i] <= max(end[i], start[i] + 8)]
        for band, shift in ((1, colour[i]), (2, 0.0)):
            seen = t[rng.random(len(t)) < 0.9]
            if kind[i] == 1:
                shape = 1 - np.exp(-seen / (rise[i] / 3))
            else:
                shape = np.clip(seen / rise[i], 1e-3, 1.0) ** 2
            true = peak[i] + shift - 2.5 * np.log10(np.clip(shape, 1e-6, None))
            sigma = rng.uniform(0.02, 0.06, len(seen))
            observed = true + rng.normal(0, sigma)
            ok = observed < 20.5
            alert.append(np.full(int(ok.sum()), i, dtype=np.int64))
            jd.append(base_jd + 1000 * i + seen[ok] + rng.uniform(-0.2, 0.2, int(ok.sum())))
            fid.append(np.full(int(ok.sum()), band, dtype=np.int64))
            mag.append(observed[ok])
            err.append(sigma[ok])
    curves = sigmoid.LightCurves(
        np.concatenate(alert),
        np.concatenate(jd),
        np.concatenate(fid),
        np.concatenate(mag),
        np.concatenate(err),
        n,
    )
    return curves, label


def train_snia(
    seed: int = 42, n_objects: int = 4000, n_trees: int = 200, test_fraction: float = 0.3
) -> Trained:
    """Fit the SN Ia forest on synthetic light curves' sigmoid features; metrics on a held-out part."""
    from sklearn.ensemble import RandomForestClassifier

    curves, label = synthetic_light_curves(seed, n_objects)
    features = sigmoid.sigmoid_features(curves, np.arange(n_objects))
    fitted = (features[:, 0] != 0) & (features[:, 6] != 0)  # what the module scores
    x, y = features[fitted], label[fitted]
    order = np.random.default_rng(seed + 1).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    if len(set(y[train].tolist())) < 2 or not n_test:
        raise ScienceError("synthetic training set too small: need both classes and a held-out part")
    model = RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=1)
    model.fit(x[train], y[train])
    forest = forest_from_sklearn(model)
    ours = forest.predict_proba(x[test])
    if not np.allclose(ours, model.predict_proba(x[test]), rtol=0, atol=1e-12):
        raise ScienceError("exported forest does not reproduce scikit-learn's probabilities")
    return Trained(forest, binary_metrics(y[test], ours[:, 1]), len(train), n_test)


def binary_metrics(truth: I64, score: F64, threshold: float = 0.5) -> dict[str, float]:
    """Precision, recall and accuracy of `score > threshold` against 0/1 `truth`."""
    predicted = score > threshold
    positive = truth == 1
    tp = int((predicted & positive).sum())
    precision = tp / int(predicted.sum()) if predicted.any() else float("nan")
    recall = tp / int(positive.sum()) if positive.any() else float("nan")
    accuracy = float((predicted == positive).mean()) if len(truth) else float("nan")
    return {"precision": round(precision, 6), "recall": round(recall, 6), "accuracy": round(accuracy, 6)}


SNIA_TRAINED_README = """# Early SN Ia random forest, trained by Siskin on SYNTHETIC light curves

**Not a science result.** Trained by `siskin train snia --seed {seed} --objects {objects} --trees {trees}`
on light curves drawn by Siskin's own toy simulation (`siskin/science/train.py`,
`synthetic_light_curves`): SN Ia-like t^2 rises versus II-like plateaus and faster Ibc-like rises.
Its metrics say the training pipeline learns and is reproducible, not how well real SNe Ia are found.
The module's default artefact is the peer broker's model (`artefacts/snia`).

**Features (12):** the sigmoid-fit features of `siskin/science/sigmoid.py` (same as the default).

**Data:** {n_train} training and {n_test} held-out light curves (fraction {test_fraction}), only those
with a fit in both g and r (the alerts the module scores).

**Held-out metrics (threshold 0.5):** precision {precision}, recall {recall}, accuracy {accuracy}.

**Model:** scikit-learn RandomForestClassifier, {trees} trees, random_state {seed}, n_jobs 1.

**Licence:** Apache-2.0, as Siskin; no third-party data.
"""


def write_trained_snia(out: Path, trained: Trained, *, seed: int, objects: int, trees: int) -> dict[str, Any]:
    """Write a synthetic-data SN Ia forest as an artefact folder with its model card."""
    import sklearn

    meta = {
        "features": list(sigmoid.FEATURE_NAMES),
        "classes": [0, 1],
        "kind": "trained",
        "training": {
            "data": "synthetic light curves from siskin.science.train.synthetic_light_curves (not observed)",
            "seed": seed,
            "objects": objects,
            "trees": trees,
            "n_train": trained.n_train,
            "n_test": trained.n_test,
            "sklearn_version": sklearn.__version__,
        },
        "metrics": trained.metrics,
        "licence": "Apache-2.0",
    }
    readme = SNIA_TRAINED_README.format(
        seed=seed,
        objects=objects,
        trees=trees,
        n_train=trained.n_train,
        n_test=trained.n_test,
        test_fraction=0.3,
        **trained.metrics,
    )
    return write_artefact(out, trained.forest, meta, readme)


# --- exported: the peer's microlensing forest (LIA) ---------------------------------------------------

MULENS_PEER_README = """# Microlensing classifier (`mulens`): the peer's LIA random forest

**What:** the peer broker Fink's published microlensing forest, `rf.sav` from the `fink-science`
wheel ({version}) on PyPI: a scikit-learn {sklearn} `RandomForestClassifier` ({trees} trees, depth 4,
classes CONSTANT, CV, ML, VARIABLE) trained for LIA (Godines et al. 2019) on simulated ZTF light
curves (https://github.com/tblaineau/ZTF_mulens_simulator). Siskin did not train it. The wheel's
`pca.sav` is not used: the peer's classifier (LIA, FINK branch) feeds the 47 features to the forest
directly.

**Why exported:** scikit-learn 1.9 refuses the pickle. Its arrays were read without running any
pickled code (`siskin/science/peer_models.py`) into `forest.npz` (numpy evaluation,
`siskin/science/forest.py`). Produced by: `siskin train mulens --from-peer <folder with rf.sav>`.

**Features (47 per band):** LIA's statistics of one band's flux (`siskin/science/lia_features.py`).

**Licence:** Apache-2.0 (fink-science, AstroLab Software); see `NOTICE`.

**Source:** {pickle_name}, sha256 `{pickle_sha256}`.
"""


def export_mulens(folder: Path, out: Path, source_version: str = "7.4.0") -> dict[str, Any]:
    """The peer's LIA forest (`rf.sav` in `folder`) as Siskin's `mulens` artefact."""
    from siskin.science.lia_features import FEATURE_NAMES

    return export_peer_forest(
        folder / "rf.sav",
        out,
        features=list(FEATURE_NAMES),
        source_version=source_version,
        readme_template=MULENS_PEER_README,
    )
