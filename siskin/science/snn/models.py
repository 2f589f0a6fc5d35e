"""The vendored SuperNNova weights (`artefacts/snn/`): export from the peer's wheel, load, check.

Each model is one npz (the LSTM state dict as float32 arrays + the `data_norm.json` figures as
`norm`, rows in `features.NORMALISED` order: min, mean, std) listed with its sha256, its source's
sha256 and the architecture in `model.json`. The export reads the peer's `model.pt` with
`torch_reader` (no pickled code runs) and is byte-for-byte reproducible (fixed zip timestamps).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from siskin.science.base import ScienceError
from siskin.science.snn.features import FEATURES, NORMALISED
from siskin.science.snn.rnn import RnnWeights
from siskin.science.snn.torch_reader import read_state_dict

ARTEFACTS = "artefacts/snn"
MODEL_NAMES = ("snn_snia_vs_nonia", "snn_sn_vs_all")
_lock = threading.Lock()
_cache: dict[str, tuple[RnnWeights, np.ndarray[Any, Any]]] = {}


def _npz(arrays: dict[str, np.ndarray[Any, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def export_peer(models_dir: Path, out: Path, source_version: str = "7.4.0") -> dict[str, Any]:
    """Write `out/<name>.npz` and `out/model.json` from the peer's `snn_models/<name>/` folders."""
    out.mkdir(parents=True, exist_ok=True)
    card: dict[str, Any] = {"kind": "exported", "features": list(FEATURES), "models": {}}
    for name in MODEL_NAMES:
        folder = models_dir / name
        if not (folder / "model.pt").is_file():
            raise ScienceError(f"{folder} has no model.pt")
        args = json.loads((folder / "cli_args.json").read_text())
        if list(args["training_features"]) != list(FEATURES) or args["layer_type"] != "lstm":
            raise ScienceError(f"{folder}: not a g/r LSTM model on {FEATURES}")
        if args["rnn_output_option"] != "mean" or args["model"] != "vanilla":
            raise ScienceError(f"{folder}: only vanilla models with mean output are supported")
        norm_json = json.loads((folder / "data_norm.json").read_text())
        arrays = dict(read_state_dict(folder / "model.pt"))
        arrays["norm"] = np.array(
            [[norm_json[f]["min"], norm_json[f]["mean"], norm_json[f]["std"]] for f in NORMALISED]
        )
        data = _npz(arrays)
        (out / f"{name}.npz").write_bytes(data)
        pt = (folder / "model.pt").read_bytes()
        card["models"][name] = {
            "file": f"{name}.npz",
            "sha256": hashlib.sha256(data).hexdigest(),
            "layers": int(args["num_layers"]),
            "hidden": int(args["hidden_dim"]),
            "bidirectional": bool(args["bidirectional"]),
            "classes": int(args["nb_classes"]),
            "source": {
                "package": "fink-science",
                "version": source_version,
                "file": f"fink_science/data/models/snn_models/{name}/model.pt",
                "sha256": hashlib.sha256(pt).hexdigest(),
                "trained_as": args["pytorch_model_name"],
                "licence": "Apache-2.0",
            },
        }
    (out / "model.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def card() -> dict[str, Any]:
    """The packaged artefacts' card."""
    try:
        loaded = json.loads(files("siskin.science").joinpath(ARTEFACTS, "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise ScienceError(f"snn model card: {exc}") from None
    if not isinstance(loaded, dict):
        raise ScienceError("snn model card is not a card")
    return loaded


def model(name: str) -> tuple[RnnWeights, np.ndarray[Any, Any]]:
    """Model `name`'s weights and normalisation, loaded and sha256-checked once per process."""
    with _lock:
        if name not in _cache:
            meta = card()["models"].get(name)
            if meta is None:
                raise ScienceError(f"no SuperNNova model {name} in {ARTEFACTS}")
            data = files("siskin.science").joinpath(ARTEFACTS, meta["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ScienceError(f"snn model {name}: {meta['file']} does not match its sha256")
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                tensors = {k: z[k].astype(np.float32) for k in z.files if k != "norm"}
                norm = z["norm"].astype(np.float64)
            _cache[name] = (RnnWeights(int(meta["layers"]), bool(meta["bidirectional"]), tensors), norm)
        return _cache[name]
