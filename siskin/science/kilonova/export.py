"""Export the peer's kilonova models (pickles, PCs) to Siskin's artefacts: arrays only, no pickled code runs.

`python -m siskin.science.kilonova.export --kndetect DIR --fink048 DIR --out DIR` rebuilds
`siskin/science/artefacts/kilonova/` byte for byte (`DIR`s: the kndetect package's `data/` folder and
fink-science 0.4.8's `data/models/` folder).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from siskin.science.base import ScienceError
from siskin.science.forest import Forest, from_trees
from siskin.science.peer_models import Record, read_pickle

KNDETECT_FEATURES = [f"{n}_{b}" for b in "gr" for n in ("coeff1", "coeff2", "coeff3", "residuo", "maxflux")]
FINK2021_FEATURES = [f"{n}_{b}" for b in "gr" for n in ("npoints", "residuo", "coeff1", "coeff2", "maxflux")]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def forest_from_state(state: dict[str, Any]) -> Forest:
    """A fitted RandomForestClassifier's pickled state (as read by `peer_models.read_pickle`) as a Forest."""
    if "estimators_" not in state:
        raise ScienceError("not a fitted random forest")
    trees = []
    for estimator in state["estimators_"]:
        tree = estimator.state["tree_"].state
        nodes = tree["nodes"]
        trees.append(
            (
                nodes["left_child"].astype(np.int64),
                nodes["right_child"].astype(np.int64),
                nodes["feature"].astype(np.int64),
                nodes["threshold"].astype(np.float64),
                np.asarray(tree["values"], dtype=np.float64)[:, 0, :],
            )
        )
    n_features = int(state.get("n_features_in_", state.get("n_features_", 0)))
    return from_trees(trees, n_features)


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as .npy bytes (no pickle, reproducible)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _write(out: Path, name: str, data: bytes) -> str:
    (out / name).write_bytes(data)
    return _sha(data)


def export_kndetect(data_dir: Path, out: Path) -> dict[str, Any]:
    """kndetect's `models/partial.pkl` forest and `interpolated_mixed_pcs.npy` (first 3 PCs) into `out`."""
    pkl = data_dir / "models" / "partial.pkl"
    pcs_path = data_dir / "interpolated_mixed_pcs.npy"
    model = read_pickle(pkl)
    state = model.state
    forest = forest_from_state(state)
    pcs = np.load(pcs_path, allow_pickle=False).astype(np.float64)[:3]
    if pcs.shape != (3, 401) or forest.n_features != 10:
        raise ScienceError(f"unexpected kndetect model: pcs {pcs.shape}, {forest.n_features} features")
    card = {
        "model": "kndetect",
        "features": KNDETECT_FEATURES,
        "forest": {
            "file": "kndetect_forest.npz",
            "sha256": _write(out, "kndetect_forest.npz", forest.to_bytes()),
        },
        "pcs": {"file": "kndetect_pcs.npy", "sha256": _write(out, "kndetect_pcs.npy", npy_bytes(pcs))},
        "trees": len(forest.roots),
        "classes": [bool(c) for c in state["classes_"]],
        "source": {
            "package": "kndetect (github.com/b-biswas/kndetect, used by fink-science >= 3)",
            "licence": "BSD-3-Clause",
            "files": {
                "models/partial.pkl": _sha(pkl.read_bytes()),
                "interpolated_mixed_pcs.npy": _sha(pcs_path.read_bytes()),
            },
            "sklearn_version": str(state.get("_sklearn_version")),
        },
    }
    (out / "kndetect.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def _step(model: Record, kind: str) -> dict[str, Any]:
    for _, step in model.state["steps"]:
        if getattr(step, "sklearn_class", "").endswith(kind):
            return step.state
    raise ScienceError(f"no {kind} in the pipeline")


def export_fink2021(models_dir: Path, out: Path) -> dict[str, Any]:
    """fink-science 0.4.8's `KN_model_2PC.pkl` (RobustScaler + forest) and `components.csv` into `out`."""
    pkl = models_dir / "KN_model_2PC.pkl"
    csv = models_dir / "components.csv"
    model = read_pickle(pkl)
    scaler = _step(model, "RobustScaler")
    rf = _step(model, "RandomForestClassifier")
    forest = forest_from_state(rf)
    table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
    grid, pcs = table[0], table[1:3]
    if not np.array_equal(grid, np.arange(-50.0, 50.25, 0.25)) or forest.n_features != 10:
        raise ScienceError("unexpected fink 2021 kilonova model (grid or features)")
    card = {
        "model": "fink2021",
        "features": FINK2021_FEATURES,
        "forest": {
            "file": "fink2021_forest.npz",
            "sha256": _write(out, "fink2021_forest.npz", forest.to_bytes()),
        },
        "pcs": {"file": "fink2021_pcs.npy", "sha256": _write(out, "fink2021_pcs.npy", npy_bytes(pcs))},
        "scaler": {
            "center": [float(v) for v in scaler["center_"]],
            "scale": [float(v) for v in scaler["scale_"]],
        },
        "trees": len(forest.roots),
        "classes": [bool(c) for c in rf["classes_"]],
        "source": {
            "package": "fink-science 0.4.8",
            "licence": "Apache-2.0",
            "files": {"KN_model_2PC.pkl": _sha(pkl.read_bytes()), "components.csv": _sha(csv.read_bytes())},
            "sklearn_version": str(rf.get("_sklearn_version")),
        },
    }
    (out / "fink2021.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    """Rebuild the kilonova artefacts from the peer's files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kndetect", type=Path, required=True, help="kndetect's data/ folder")
    parser.add_argument("--fink048", type=Path, required=True, help="fink-science 0.4.8 data/models/ folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for card in (export_kndetect(args.kndetect, args.out), export_fink2021(args.fink048, args.out)):
        print(card["model"], card["forest"]["sha256"], card["pcs"]["sha256"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
