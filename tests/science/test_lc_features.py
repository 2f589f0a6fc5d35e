"""`lc_features`: the reference broker's light-curve features and Siskin's per-band summaries.

Synthetic rows pin each rule (no history, one band, upper limits only, NaN magnitudes, DC
magnitudes, rates, colour); real alerts check the features against the broker's own values.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from science_rows import ztf_rows

from siskin.science.compare import compare, peer_files
from siskin.science.modules.lc_features import FEATURE_NAMES, LcFeatures
from siskin.science.runner import run_modules

JD = 2461000.5
SLSN = "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"


def point(jd: float, fid: int, mag: float | None, sigma: float | None = 0.1, **extra: Any) -> dict[str, Any]:
    """One measurement (a `prv_candidates` item, or the candidate's own fields); mag None: upper limit."""
    return {"jd": jd, "fid": fid, "magpsf": mag, "sigmapsf": None if mag is None else sigma} | extra


def alert(history: list[dict[str, Any]], current: dict[str, Any]) -> dict[str, Any]:
    """A silver row: the current candidate's fields at top level, its history in `prv_candidates`."""
    return current | {"prv_candidates": history or None}


def features(rows: list[dict[str, Any]], **config: Any) -> list[dict[str, Any]]:
    """Every output of the module, one dict per row."""
    return run_modules(ztf_rows(rows), [LcFeatures(config)]).to_pylist()


def test_no_history_one_detection_gives_point_features_and_empty_rates() -> None:
    (out,) = features([alert([], point(JD, 1, 18.5))])
    g = out["lc_features_g"]
    assert g is not None and out["lc_features_r"] is None  # no r row at all: the broker leaves r out
    assert g["mean"] == pytest.approx(18.5) and g["median"] == pytest.approx(18.5)
    assert g["amplitude"] == 0.0
    assert math.isnan(g["standard_deviation"]) and math.isnan(g["linear_fit_slope"])  # too few points
    assert out["lc_ndet_g"] == 1 and out["lc_ndet_r"] == 0
    assert out["lc_amplitude_g"] == 0.0 and out["lc_amplitude_r"] is None
    assert out["lc_rise_rate_g"] is None and out["lc_decline_rate_g"] is None
    assert out["lc_days_since_first_g"] == 0.0 and out["lc_days_since_first"] == 0.0
    assert out["lc_color_gr"] is None
    assert out["lc_features_version"] == LcFeatures.version


def test_rise_decline_amplitude_and_age_per_band() -> None:
    history = [point(JD, 1, 20.0), point(JD + 2, 1, 18.0), point(JD + 1, 2, 19.0)]
    (out,) = features([alert(history, point(JD + 4, 1, 19.0))])
    assert out["lc_ndet_g"] == 3 and out["lc_ndet_r"] == 1
    assert out["lc_amplitude_g"] == pytest.approx(2.0)
    assert out["lc_rise_rate_g"] == pytest.approx(1.0)  # 20 -> 18 in 2 days
    assert out["lc_decline_rate_g"] == pytest.approx(0.5)  # 18 -> 19 in 2 days
    assert out["lc_days_since_first_g"] == pytest.approx(4.0)
    assert out["lc_days_since_first_r"] == pytest.approx(3.0)
    assert out["lc_days_since_first"] == pytest.approx(4.0)
    assert out["lc_rise_rate_r"] is None and out["lc_decline_rate_r"] is None  # a single r point
    g = out["lc_features_g"]
    assert g["mean"] == pytest.approx(19.0) and g["amplitude"] == pytest.approx(1.0)  # half the range
    assert g["linear_fit_slope"] == pytest.approx(-0.25)  # least squares through (0, 20), (2, 18), (4, 19)


def test_colour_pairs_the_latest_g_and_r_only_when_close_in_time() -> None:
    near = alert([point(JD, 1, 19.0)], point(JD + 0.5, 2, 18.4))
    far = alert([point(JD, 1, 19.0)], point(JD + 3.0, 2, 18.4))
    out = features([near, far])
    assert out[0]["lc_color_gr"] == pytest.approx(0.6, abs=1e-5)
    assert out[1]["lc_color_gr"] is None
    wide = features([far], color_max_days=5.0)
    assert wide[0]["lc_color_gr"] == pytest.approx(0.6, abs=1e-5)


def test_one_band_only_leaves_the_other_band_null() -> None:
    history = [point(JD + i, 2, 18.0 + 0.1 * i) for i in range(5)]
    (out,) = features([alert(history, point(JD + 6, 2, 18.7))])
    assert out["lc_features_g"] is None and out["lc_ndet_g"] == 0 and out["lc_days_since_first_g"] is None
    r = out["lc_features_r"]
    assert r is not None and not math.isnan(r["linear_fit_slope"]) and r["linear_fit_slope"] > 0
    assert out["lc_ndet_r"] == 6


def test_upper_limits_only_in_a_band_give_all_nan_features_not_null() -> None:
    """The broker keeps a band that has only upper limits (all NaN): the anomaly score depends on it."""
    history = [point(JD, 1, None), point(JD + 1, 1, None), point(JD + 2, 2, 18.0)]
    (out,) = features([alert(history, point(JD + 3, 2, 18.2))])
    g = out["lc_features_g"]
    assert g is not None and all(math.isnan(g[name]) for name in FEATURE_NAMES)
    assert out["lc_ndet_g"] == 0 and out["lc_ndet_r"] == 2


def test_nan_and_null_magnitudes_are_not_detections() -> None:
    history = [point(JD, 1, float("nan")), point(JD + 1, 1, 18.0, sigma=float("nan")), point(JD + 2, 1, 18.0)]
    (out,) = features([alert(history, point(JD + 3, 1, None))])
    assert out["lc_ndet_g"] == 1
    assert out["lc_features_g"]["mean"] == pytest.approx(18.0)
    assert out["lc_days_since_first_g"] == pytest.approx(1.0)  # first usable detection at JD + 2


def test_a_source_under_the_transient_turns_every_detection_into_dc_magnitudes() -> None:
    ref = {"distnr": 0.5, "magnr": 15.0, "sigmagnr": 0.02}
    history = [point(JD, 1, 18.0, isdiffpos="t", **ref)]
    current = point(JD + 1, 1, 19.0, isdiffpos="f", **(ref | {"distnr": 5.0}))
    (out,) = features([alert(history, current)])
    brighter = -2.5 * math.log10(10 ** (-0.4 * 15.0) + 10 ** (-0.4 * 18.0))
    fainter = -2.5 * math.log10(10 ** (-0.4 * 15.0) - 10 ** (-0.4 * 19.0))
    g = out["lc_features_g"]
    assert g["mean"] == pytest.approx((brighter + fainter) / 2, abs=1e-6)
    assert out["lc_amplitude_g"] == pytest.approx(1.0)  # the summaries stay on difference magnitudes
    lone = features([alert([], point(JD, 1, 18.0, isdiffpos="t", distnr=0.5, magnr=-999.0))])[0]
    assert lone["lc_features_g"] is not None and math.isnan(lone["lc_features_g"]["mean"])  # no reference mag


def test_a_batch_gives_each_alert_what_it_gets_alone() -> None:
    """Flattening the whole batch never mixes two alerts' points."""
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(12):
        n = int(rng.integers(0, 8))
        history = [
            point(JD + j, int(rng.integers(1, 3)), None if rng.random() < 0.3 else 17 + 3 * rng.random())
            for j in range(n)
        ]
        rows.append(alert(history, point(JD + n + 1, int(rng.integers(1, 3)), 17 + 3 * rng.random())))
    together = features(rows)
    alone = [features([r])[0] for r in rows]
    chunked = pa.concat_tables([ztf_rows([r]) for r in rows])  # one chunk per alert
    assert chunked.column("prv_candidates").num_chunks == len(rows)
    assert _same(run_modules(chunked, [LcFeatures()]).to_pylist(), together)
    for a, b in zip(together, alone, strict=True):
        for key in a:
            if key in ("_row", "objectId", "candid"):
                continue
            assert _same(a[key], b[key]), key


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


def test_an_empty_batch_gives_empty_columns() -> None:
    out = run_modules(ztf_rows([]), [LcFeatures()])
    assert out.num_rows == 0 and out.schema.field("lc_features_g").type == pa.struct(
        [pa.field(n, pa.float64()) for n in FEATURE_NAMES]
    )


def test_feature_names_are_the_brokers_columns(shared_data: Path) -> None:
    peer = pq.read_schema(shared_data / SLSN).field("lc_features_g").type
    assert [peer.field(i).name for i in range(peer.num_fields)] == list(FEATURE_NAMES)


def test_features_equal_the_brokers_on_real_light_curves(shared_data: Path) -> None:
    result = compare([shared_data / SLSN], [LcFeatures()])
    for band in ("g", "r"):
        report = result.columns[("ztf", f"lc_features_{band}")]
        assert report.compared == pq.read_metadata(shared_data / SLSN).num_rows == 55
        assert report.rate == 1.0, report.disagreements[:3]


def test_only_alerts_from_the_brokers_pre_dc_version_disagree(shared_data: Path) -> None:
    """fink-science 3.x computed the features on difference magnitudes: those alerts alone differ."""
    files = peer_files(shared_data / "ztf/fink_processed")
    result = compare(files, [LcFeatures()])
    old = set()
    for f in files:
        names = pq.read_schema(f).names
        if "lc_features_g" in names:
            table = pq.read_table(f, columns=["candid", "fink_science_version"])
            old |= {
                c
                for c, v in zip(
                    table["candid"].to_pylist(), table["fink_science_version"].to_pylist(), strict=True
                )
                if int(v.split(".")[0]) < 4
            }
    assert len(old) == 2
    for band in ("g", "r"):
        report = result.columns[("ztf", f"lc_features_{band}")]
        assert report.compared == 58
        assert {candid for _, candid, _, _ in report.disagreements} <= old
        assert report.agreed >= report.compared - len(old)


def test_several_points_at_one_time_give_nan_features_instead_of_a_panic() -> None:
    """`light-curve` panics on a zero time span; the curve's features stay NaN, the batch goes on."""
    flat = alert([point(JD, 1, 18.4)], point(JD, 1, 18.6))
    fine = alert([point(JD - 2, 1, 18.0)], point(JD, 1, 18.6))
    out_flat, out_fine = features([flat, fine])
    assert out_flat["lc_features_g"] is not None
    assert all(math.isnan(v) for v in out_flat["lc_features_g"].values())
    assert out_fine["lc_features_g"]["mean"] == pytest.approx(18.3)
    assert out_flat["lc_ndet_g"] == 2
