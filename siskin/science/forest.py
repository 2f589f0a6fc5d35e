"""A random forest as plain arrays (npz), evaluated with numpy: no pickle is ever loaded at run time.

Trees are stored concatenated: per node its children (-1 at a leaf), split feature and threshold,
and per leaf the class probabilities (the node's class weights normalised, as scikit-learn's
`predict_proba` does). Prediction follows scikit-learn exactly: inputs are cast to float32, a sample
goes left when `x[feature] <= threshold`, and the forest's probability is the mean over trees.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

from siskin.science.base import ScienceError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Forest:
    """Concatenated trees: node arrays, the root node of each tree, per-node class probabilities."""

    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    feature: npt.NDArray[np.int32]
    threshold: F64
    proba: F64  # (nodes, classes); only leaves are read
    roots: npt.NDArray[np.int32]
    n_features: int

    @property
    def n_classes(self) -> int:
        """Number of classes the forest votes over."""
        return int(self.proba.shape[1])

    def predict_proba(self, features: F64) -> F64:
        """Class probabilities, (samples, classes), as scikit-learn's RandomForestClassifier gives them."""
        x = np.asarray(features, dtype=np.float32).astype(np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ScienceError(f"forest expects {self.n_features} features, got shape {x.shape}")
        n, trees = x.shape[0], len(self.roots)
        total = np.zeros((n, self.n_classes))
        step = max(1, 2_000_000 // max(trees, 1))
        for lo in range(0, n, step):  # bounded memory: (rows x trees) node indices at a time
            rows = np.arange(lo, min(n, lo + step))
            node = np.broadcast_to(self.roots, (len(rows), trees)).copy()
            sample = np.broadcast_to(rows[:, None] - lo, node.shape)
            block = x[rows]
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                at = node[inner]
                go_left = block[sample[inner], self.feature[at]] <= self.threshold[at]
                node[inner] = np.where(go_left, self.left[at], self.right[at])
            total[rows] = self.proba[node].sum(axis=1)
        return total / trees

    def to_bytes(self) -> bytes:
        """The forest as a compressed npz, byte-for-byte reproducible (fixed zip timestamps)."""
        arrays = {
            "left": self.left,
            "right": self.right,
            "feature": self.feature,
            "threshold": self.threshold,
            "proba": self.proba,
            "roots": self.roots,
            "n_features": np.asarray(self.n_features, dtype=np.int64),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, member.getvalue())
        return buffer.getvalue()


def from_bytes(data: bytes) -> Forest:
    """A forest from npz bytes (`allow_pickle` off: arrays only)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return Forest(
            left=z["left"].astype(np.int32),
            right=z["right"].astype(np.int32),
            feature=z["feature"].astype(np.int32),
            threshold=z["threshold"].astype(np.float64),
            proba=z["proba"].astype(np.float64),
            roots=z["roots"].astype(np.int32),
            n_features=int(z["n_features"].reshape(-1)[0]),
        )


def artefact_bytes(package: str, name: str, sha256: str | None = None) -> bytes:
    """A packaged artefact file's bytes, checked against its recorded sha256 when one is given."""
    data = resources.files(package).joinpath(name).read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ScienceError(f"artefact {package}/{name} does not match its sha256 {sha256[:12]}...")
    return data


def from_trees(trees: list[tuple[I64, I64, I64, F64, F64]], n_features: int) -> Forest:
    """Concatenate per-tree (left, right, feature, threshold, class weights) into one forest."""
    offsets = np.cumsum([0] + [len(t[0]) for t in trees[:-1]]).astype(np.int64)
    lefts, rights, feats, thrs, probas = [], [], [], [], []
    for off, (left, right, feature, threshold, weights) in zip(offsets, trees, strict=True):
        leaf = left < 0
        lefts.append(np.where(leaf, -1, left + off))
        rights.append(np.where(leaf, -1, right + off))
        feats.append(np.where(leaf, 0, feature))
        thrs.append(np.where(leaf, 0.0, threshold))
        w = np.asarray(weights, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = w / w.sum(axis=1, keepdims=True)
        probas.append(np.where(leaf[:, None], np.nan_to_num(p), 0.0))
    return Forest(
        left=np.concatenate(lefts).astype(np.int32),
        right=np.concatenate(rights).astype(np.int32),
        feature=np.concatenate(feats).astype(np.int32),
        threshold=np.concatenate(thrs).astype(np.float64),
        proba=np.concatenate(probas),
        roots=offsets.astype(np.int32),
        n_features=n_features,
    )
