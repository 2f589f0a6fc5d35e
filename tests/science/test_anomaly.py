"""`anomaly_score`: the broker's ONNX forests over `lc_features`, and agreement with its own scores."""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from science_rows import ztf_rows

from siskin.science.compare import compare, peer_files
from siskin.science.modules.anomaly import MODEL_COLUMNS, AnomalyScore, forests, scores
from siskin.science.modules.lc_features import FEATURES_TYPE, LcFeatures
from siskin.science.runner import run_modules

JD = 2461000.5
SLSN = "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"
ARTEFACTS = files("siskin.science").joinpath("artefacts/fink_anomaly")
# sha256 of the files as they are in the fink-science 7.4.0 wheel (its RECORD), zip members included
SHA256 = {
    "anomaly_detection_forest_AAD.zip": "d85ebeaeb1722bcbd8e38aab17d2abc83d4b1b7e5182fbaedc9c992ae1208525",
    "g_means.csv": "5a305a7fdda280947cd0db62c2c47d89a4e85b4e72ca2c79b514e23461dc9456",
    "r_means.csv": "3e6e681e28df4087873b312146c6af2f051d8ffb1119db618cde940acbcebb62",
    "forest_g_AAD.onnx": "cb3560465c9daf23e53220f6c8eb04cc960f8407d5f9e57619d11b61197dad51",
    "forest_r_AAD.onnx": "bab62f4f9978580949d947526dbac582680481a72d0895ce08a137b251cac741",
}


def test_vendored_artefacts_are_the_published_ones_with_their_licence() -> None:
    for name in ("anomaly_detection_forest_AAD.zip", "g_means.csv", "r_means.csv"):
        assert hashlib.sha256(ARTEFACTS.joinpath(name).read_bytes()).hexdigest() == SHA256[name], name
    with zipfile.ZipFile(
        io.BytesIO(ARTEFACTS.joinpath("anomaly_detection_forest_AAD.zip").read_bytes())
    ) as z:
        for member in ("forest_g_AAD.onnx", "forest_r_AAD.onnx"):
            assert hashlib.sha256(z.read(member)).hexdigest() == SHA256[member]
    assert "Apache License" in ARTEFACTS.joinpath("LICENSE").read_text()
    card = ARTEFACTS.joinpath("README.md").read_text()
    assert "fink-science 7.4.0" in card and all(digest in card for digest in SHA256.values())


def band_struct(rows: list[dict[str, float] | None]) -> pa.Array:
    """A features column: each row a dict of features (absent ones NaN), or None for an absent band."""
    names = [f.name for f in FEATURES_TYPE]
    filled = [None if r is None else {n: r.get(n, float("nan")) for n in names} for r in rows]
    return pa.array(filled, FEATURES_TYPE)


def test_both_bands_are_needed_for_a_score() -> None:
    some = {"amplitude": 0.3, "median": 18.0, "skew": 0.1}
    out = scores(band_struct([some, None, None, some]), band_struct([some, some, None, some]))
    assert out[1] == 0.0 and out[2] == 0.0
    assert out[0] < 0.0 and out[0] == out[3]


def test_missing_features_are_the_training_means() -> None:
    model = forests()
    g_means = dict(zip(MODEL_COLUMNS, model.g_means, strict=True))
    r_means = dict(zip(MODEL_COLUMNS, model.r_means, strict=True))
    # the broker's pairing: fid 1 ("g" column) feeds forest_r, so it is filled with r's means
    nan_rows = scores(band_struct([{}]), band_struct([{}]))
    mean_rows = scores(band_struct([r_means]), band_struct([g_means]))
    swapped = scores(band_struct([g_means]), band_struct([r_means]))
    assert nan_rows[0] == mean_rows[0] < 0.0
    assert swapped[0] != mean_rows[0]  # the pairing matters: a swapped model would be caught


def test_score_is_the_mean_of_the_two_forests_in_float32() -> None:
    model = forests()
    x = np.array([model.r_means], np.float32)
    y = np.array([model.g_means * 1.1], np.float32)
    expected = (
        model.forest_r.run(None, {"X": x})[-1].reshape(-1)
        + model.forest_g.run(None, {"X": y})[-1].reshape(-1)
    ) / np.float32(2)
    got = scores(
        band_struct([dict(zip(MODEL_COLUMNS, x[0].astype(float), strict=True))]),
        band_struct([dict(zip(MODEL_COLUMNS, y[0].astype(float), strict=True))]),
    )
    assert got.dtype == np.float64 and got[0] == float(expected[0])


def point(jd: float, fid: int, mag: float | None) -> dict[str, Any]:
    """One measurement; mag None is an upper limit."""
    return {"jd": jd, "fid": fid, "magpsf": mag, "sigmapsf": None if mag is None else 0.1}


def test_runs_after_lc_features_on_silver_rows() -> None:
    two = [point(JD + i, 1 + i % 2, 18.0 + 0.05 * i) for i in range(8)]
    rows = [
        point(JD + 9, 1, 18.6) | {"prv_candidates": two},  # both bands: scored
        point(JD + 9, 1, 18.6) | {"prv_candidates": [point(JD, 1, 18.0)]},  # g only: 0.0
        point(JD + 9, 1, 18.6) | {"prv_candidates": None},  # no history: 0.0
        point(JD + 9, 2, 18.6) | {"prv_candidates": [point(JD, 1, None)]},  # g upper limit + r: scored
        point(JD + 9, 1, float("nan")) | {"prv_candidates": [point(JD, 2, float("nan"))]},  # nothing usable
    ]
    out = run_modules(ztf_rows(rows), [AnomalyScore(), LcFeatures()])  # the runner orders them
    score = out.column("anomaly_score").to_pylist()
    assert score[0] < 0.0 and score[3] < 0.0
    assert score[1] == 0.0 and score[2] == 0.0
    assert score[4] < 0.0  # both bands have rows (the broker keeps them, all features NaN -> means)
    assert out.column("anomaly_version").to_pylist() == [AnomalyScore.version] * 5


def test_agrees_with_the_brokers_score_on_alerts_it_scored_with_this_model(shared_data: Path) -> None:
    report = compare([shared_data / SLSN], [LcFeatures(), AnomalyScore()]).columns[("ztf", "anomaly_score")]
    assert report.compared == 55 and report.rate == 1.0, report.disagreements


def test_only_alerts_scored_by_the_brokers_earlier_models_disagree(shared_data: Path) -> None:
    """fink-science 3.x / 5.x scored with pickled scikit-learn forests, not the published ONNX model."""
    files_ = peer_files(shared_data / "ztf/fink_processed")
    carrying, earlier = 0, set()
    for f in files_:
        if "anomaly_score" in pq.read_schema(f).names:
            table = pq.read_table(f, columns=["candid", "fink_science_version"])
            carrying += table.num_rows
            versions = table["fink_science_version"].to_pylist()
            earlier |= {
                c
                for c, v in zip(table["candid"].to_pylist(), versions, strict=True)
                if int(v.split(".")[0]) < 7
            }
    report = compare(files_, [LcFeatures(), AnomalyScore()]).columns[("ztf", "anomaly_score")]
    assert report.compared == carrying == 58
    assert {candid for _, candid, _, _ in report.disagreements} == earlier
    assert report.agreed == carrying - len(earlier) == 55


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_batches(rows: int) -> None:
    out = scores(band_struct([{"median": 18.0}] * rows), band_struct([None] * rows))
    assert out.shape == (rows,) and not out.any()
