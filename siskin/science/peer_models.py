"""Read the peer broker's published scikit-learn pickles without scikit-learn: the arrays, nothing else.

The peer's random forests were pickled by scikit-learn 0.22 and 1.0.2; scikit-learn 1.9 refuses them
(its tree nodes gained a `missing_go_to_left` field). This reader never runs the pickle's classes: a
restricted unpickler turns every scikit-learn object into a plain record of its state, lets numpy
rebuild arrays, and refuses anything else, so the trees' arrays can be exported to `forest.Forest`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from siskin.science.base import ScienceError
from siskin.science.forest import Forest, from_trees

_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class Record:
    """Stands in for a scikit-learn object: keeps the constructor arguments and the pickled state."""

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "sklearn":
            return type(name, (Record,), {"sklearn_class": f"{module}.{name}"})
        if (module, name) in _NUMPY:
            return super().find_class(module, name)
        raise ScienceError(f"refusing to load {module}.{name} from a model pickle")


def read_pickle(path: Path) -> Record:
    """The pickled scikit-learn object at `path` as records (no scikit-learn code runs)."""
    with path.open("rb") as handle:
        loaded = _Restricted(handle).load()
    if not isinstance(loaded, Record):
        raise ScienceError(f"{path} does not hold a scikit-learn object")
    return loaded


def forest_from_pickle(path: Path) -> tuple[Forest, dict[str, Any]]:
    """A pickled RandomForestClassifier as a `Forest`, and its parameters (sklearn version, trees...)."""
    model = read_pickle(path)
    state = model.state
    if "estimators_" not in state:
        raise ScienceError(f"{path} is not a fitted random forest")
    trees = []
    for estimator in state["estimators_"]:
        tree = estimator.state["tree_"].state
        nodes = tree["nodes"]
        values = np.asarray(tree["values"], dtype=np.float64)[:, 0, :]
        trees.append(
            (
                nodes["left_child"].astype(np.int64),
                nodes["right_child"].astype(np.int64),
                nodes["feature"].astype(np.int64),
                nodes["threshold"].astype(np.float64),
                values,
            )
        )
    n_features = int(state.get("n_features_in_", state.get("n_features_", 0)))
    params = {
        "sklearn_version": str(state.get("_sklearn_version")),
        "n_estimators": len(trees),
        "classes": [v.item() if hasattr(v, "item") else v for v in state["classes_"]],
        "n_features": n_features,
        "max_depth": state.get("max_depth"),
        "random_state": state.get("random_state"),
    }
    return from_trees(trees, n_features), params
