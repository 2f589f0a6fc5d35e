"""SuperNNova scores: the peer's values on real alerts, batch = one-by-one, the SN class rules fire."""

from __future__ import annotations

import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from science_rows import ztf_rows

from siskin.science.base import ScienceError
from siskin.science.classes.__main__ import with_peer_inputs
from siskin.science.classes.rules import ClassConfig, classify
from siskin.science.modules.snn import SnnScore
from siskin.science.runner import run_modules
from siskin.science.snn import models

SLSN = "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"  # written by fink-science 8.15.0
SNN = ("snn_snia_vs_nonia", "snn_sn_vs_all")
JD = 2461000.5
PEER_WHEEL = Path("/tmp/fs/fink_science-7.4.0-py3-none-any.whl")  # where this machine keeps it (PyPI)


def _peer_batch(shared_data: Path) -> tuple[pa.Table, pa.Array | None]:
    """The real alerts with the peer's own cut inputs (cdsxmatch, roid) and without its snn scores."""
    alerts, finkclass = with_peer_inputs(shared_data / SLSN)
    return alerts.drop_columns([c for c in SNN if c in alerts.column_names]), finkclass


def test_scores_agree_with_the_peer_on_real_alerts(shared_data: Path) -> None:
    """Every alert of the file the current peer wrote (same model weights): within 1e-5, cut ones 0."""
    alerts, _ = with_peer_inputs(shared_data / SLSN)
    ours = run_modules(alerts.drop_columns(list(SNN)), [SnnScore()])
    for name in SNN:
        theirs = np.asarray(alerts.column(name).to_pylist(), dtype=np.float64)
        mine = np.asarray(ours.column(name).to_pylist(), dtype=np.float64)
        assert len(mine) == 55
        assert (theirs > 0).sum() == 31  # scored by the peer; the rest it cut (SIMBAD "Supernova" etc.)
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5, err_msg=name)
        assert ((mine == 0) == (theirs == 0)).all()


def test_a_batch_scores_each_alert_as_it_would_alone(shared_data: Path) -> None:
    """Padding and the per-length reverse pass: the vectorised batch equals one alert at a time, exactly.

    Exactly, so a replay (another batch) rewrites the stream's scores bit for bit: the model runs in
    float64 (BLAS's shape-dependent rounding stays ~1e-15) and rounds its probabilities to float32.
    A padding or reverse-pass mistake moves scores by > 1e-3.
    """
    alerts, _ = _peer_batch(shared_data)
    module = SnnScore()
    together = run_modules(alerts, [module])
    for i in range(0, alerts.num_rows, 3):
        alone = run_modules(alerts.slice(i, 1), [module])
        for name in SNN:
            assert alone.column(name)[0].as_py() == together.column(name)[i].as_py()
    small = run_modules(alerts, [SnnScore({"chunk": 7})])  # chunks of 7 alerts: the same scores
    for name in SNN:
        np.testing.assert_array_equal(small.column(name).to_numpy(), together.column(name).to_numpy())


def test_sn_rules_fire_with_siskins_scores_as_with_the_peers(shared_data: Path) -> None:
    """With Siskin's scores in place of the peer's, the class rules give the peer's `finkclass`."""
    alerts, finkclass = _peer_batch(shared_data)
    assert finkclass is not None
    ours = run_modules(alerts, [SnnScore()])
    scored = alerts
    for name in SNN:
        scored = scored.append_column(name, ours.column(name))
    result = classify(scored, ClassConfig(variable_star_override=False))
    assert "SN candidate" not in result.skipped
    assert "Early SN Ia candidate" not in result.skipped
    assert int(result.fired["SN candidate"].sum()) > 0
    assert result.labels.to_pylist() == finkclass.to_pylist()


def _rows(points: list[dict[str, Any]], **current: Any) -> pa.Table:
    base = {"jd": JD, "fid": 2, "magpsf": 18.0, "sigmapsf": 0.05, "jdstarthist": JD - 10}
    return ztf_rows([base | {"prv_candidates": points} | current])


RISING = [
    {"jd": JD - 10 + 2 * k, "fid": 1 + k % 2, "magpsf": 19.5 - 0.3 * k, "sigmapsf": 0.05} for k in range(5)
]


def _score(table: pa.Table) -> dict[str, float]:
    out = run_modules(table, [SnnScore()])
    return {n: out.column(n)[0].as_py() for n in SNN}


def test_cuts_give_zero() -> None:
    scored = _score(_rows(RISING))
    assert all(0 < v < 1 for v in scored.values())
    assert all(v == 0 for v in _score(_rows([])).values())  # one point
    limits = [{"jd": p["jd"], "fid": p["fid"], "magpsf": None} for p in RISING]
    assert all(v == 0 for v in _score(_rows(limits)).values())  # upper limits are not points
    assert all(v == 0 for v in _score(_rows(RISING, jdstarthist=JD - 91)).values())  # too old
    assert all(v == 0 for v in _score(_rows(RISING, jdstarthist=None)).values())
    asteroid = _rows(RISING).append_column("roid", pa.array([3], pa.int32()))
    assert all(v == 0 for v in _score(asteroid).values())
    star = _rows(RISING).append_column("cdsxmatch", pa.array(["RRLyr"]))
    assert all(v == 0 for v in _score(star).values())
    galaxy = _rows(RISING).append_column("cdsxmatch", pa.array(["Galaxy"]))
    assert _score(galaxy) == pytest.approx(scored, abs=1e-15)


def test_artefacts_are_checked_and_reproduced_from_the_peer(tmp_path: Path) -> None:
    card = models.card()
    assert sorted(card["models"]) == sorted(models.MODEL_NAMES)
    for name in models.MODEL_NAMES:
        weights, norm = models.model(name)
        assert norm.shape == (5, 3)
        assert weights.tensors["rnn_layer.weight_ih_l0"].shape == (128, 8)
        assert card["models"][name]["source"]["version"] == "7.4.0"
    if not PEER_WHEEL.is_file():
        pytest.skip(f"the peer's wheel {PEER_WHEEL} is absent: the byte-for-byte export is not rechecked")
    prefix = "fink_science/data/models/snn_models/"
    with zipfile.ZipFile(PEER_WHEEL) as wheel:
        for member in wheel.namelist():
            if member.startswith(prefix) and member.split("/")[4] in models.MODEL_NAMES:
                wheel.extract(member, tmp_path / "wheel")
    rebuilt = models.export_peer(tmp_path / "wheel" / prefix, tmp_path / "out")
    assert rebuilt == card
    for name in models.MODEL_NAMES:
        packaged = files("siskin.science").joinpath(models.ARTEFACTS, f"{name}.npz").read_bytes()
        assert (tmp_path / "out" / f"{name}.npz").read_bytes() == packaged


def test_foreign_classes_in_a_pt_file_are_refused(tmp_path: Path) -> None:
    import pickle

    from siskin.science.snn.torch_reader import read_state_dict

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001) + pickle.dumps({}))
    with path.open("ab") as handle:
        pickle.dump(print, handle)  # a callable: builtins.print must not be loaded
    with pytest.raises(ScienceError, match="refusing"):
        read_state_dict(path)
