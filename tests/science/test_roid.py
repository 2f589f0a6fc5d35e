"""The solar-system flag `roid` and `nalerthist`: one test per rule on synthetic rows, then real alerts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from science_rows import rubin_rows, ztf_rows

from siskin.alerts.decoder import decode_payloads
from siskin.config import DecodeSettings
from siskin.science.base import ScienceError
from siskin.science.compare import read_parquet
from siskin.science.modules.nalerthist import NAlertHist
from siskin.science.modules.roid import Roid, RubinRoid
from siskin.science.runner import run_modules

JD = 2461000.5
MINUTE = 1.0 / (24 * 60)
# A row no rule fires on: seen often, star-like PS1 neighbour far away, no known minor planet.
PLAIN: dict[str, Any] = {
    "jd": JD,
    "magpsf": 18.0,
    "ndethist": 40,
    "sgscore1": 0.99,
    "distpsnr1": 12.0,
    "ssdistnr": -999.0,
    "ssmagnr": -999.0,
}


def roid(rows: list[dict[str, Any]], **config: Any) -> list[int]:
    """The flag Siskin computes for each row (PLAIN overridden by the row's values)."""
    out = run_modules(ztf_rows([PLAIN | r for r in rows]), [Roid(config)])
    return out.column("roid").to_pylist()


def detection(minutes_before: float, mag: float | None = 18.5) -> dict[str, Any]:
    return {"jd": JD - minutes_before * MINUTE, "magpsf": mag}


def test_plain_alert_is_0() -> None:
    assert roid([{}]) == [0]


def test_known_minor_planet_within_radius_with_valid_ssmagnr_is_3() -> None:
    assert roid([{"ssdistnr": 1.2, "ssmagnr": 19.1, "ndethist": 3}]) == [3]
    assert roid([{"ssdistnr": 4.99, "ssmagnr": 19.1, "ndethist": 3}]) == [3]
    assert roid([{"ssdistnr": 5.0, "ssmagnr": 19.1, "ndethist": 3}]) == [0]  # radius is exclusive


def test_known_wins_over_first_detection() -> None:
    assert roid([{"ssdistnr": 0.4, "ssmagnr": 20.0, "ndethist": 1}]) == [3]


def test_known_radius_is_configurable() -> None:
    row = {"ssdistnr": 7.0, "ssmagnr": 19.0, "ndethist": 3}
    assert roid([row]) == [0]
    assert roid([row], known_radius_arcsec=8.0) == [3]


def test_known_needs_a_valid_ssmagnr_unless_disabled() -> None:
    row = {"ssdistnr": 1.0, "ssmagnr": -999.0, "ndethist": 3}
    assert roid([row]) == [0]
    assert roid([row | {"ssmagnr": None}]) == [0]
    assert roid([row], require_ssmagnr=False) == [3]  # the reference broker's own rule


def test_known_needs_the_minor_planet_nearer_than_the_ps1_source() -> None:
    assert roid([{"ssdistnr": 2.0, "ssmagnr": 19.0, "ndethist": 3, "distpsnr1": 1.5}]) == [0]
    assert roid([{"ssdistnr": 2.0, "ssmagnr": 19.0, "ndethist": 3, "distpsnr1": 2.5}]) == [3]


def test_known_refused_for_a_source_seen_many_times() -> None:
    known = {"ssdistnr": 1.0, "ssmagnr": 19.0}
    assert roid([known | {"ndethist": 6}]) == [0]
    assert roid([known | {"ndethist": 6}], known_max_ndethist=10) == [3]
    history = [detection(60 * 24 * d) for d in range(1, 6)]  # 5 earlier detections: 6 in the packet
    assert roid([known | {"ndethist": 3, "prv_candidates": history}]) == [0]
    assert roid([known | {"ndethist": 3, "prv_candidates": history[:4]}]) == [3]


def test_first_detection_is_1() -> None:
    assert roid([{"ndethist": 1}]) == [1]


def test_first_detection_means_ndethist_not_an_empty_history() -> None:
    # ZTF's ndethist counts its own detections at the position; an empty packet history is not enough.
    assert roid([{"ndethist": 3, "prv_candidates": None}]) == [0]
    assert roid([{"ndethist": 1, "prv_candidates": [detection(10, None)]}]) == [1]


def test_candidate_no_stellar_counterpart_and_few_detections_is_2() -> None:
    assert roid([{"ndethist": 1, "sgscore1": 0.5}]) == [2]
    assert roid([{"ndethist": 2, "sgscore1": 0.5, "prv_candidates": [detection(10)]}]) == [2]
    assert roid([{"ndethist": 3, "sgscore1": 0.5}]) == [0]
    assert roid([{"ndethist": 2, "sgscore1": 0.76, "prv_candidates": [detection(10)]}]) == [0]


def test_ps1_source_within_5_arcsec_clears_1_and_2() -> None:
    assert roid([{"ndethist": 1, "distpsnr1": 3.0}]) == [0]
    assert roid([{"ndethist": 1, "sgscore1": 0.5, "distpsnr1": 4.9}]) == [0]
    assert roid([{"ndethist": 1, "sgscore1": 0.5, "distpsnr1": 4.9}], ps1_radius_arcsec=4.0) == [2]
    assert roid([{"ndethist": 1, "distpsnr1": -999.0}]) == [1]  # no PS1 source at all


def test_two_detections_more_than_30_minutes_apart_clear_the_candidate() -> None:
    row = {"ndethist": 2, "sgscore1": 0.5}
    assert roid([row | {"prv_candidates": [detection(45)]}]) == [0]
    assert roid([row | {"prv_candidates": [detection(25)]}]) == [2]
    assert roid([row | {"prv_candidates": [detection(45)]}], pair_max_minutes=60) == [2]


def test_pair_time_runs_from_the_last_history_entry_even_an_upper_limit() -> None:
    # The reference broker differences the time of every history entry, limits included.
    row = {"ndethist": 2, "sgscore1": 0.5}
    assert roid([row | {"prv_candidates": [detection(600), detection(5, None)]}]) == [2]
    assert roid([row | {"prv_candidates": [detection(5), detection(600, None)]}]) == [0]


def test_ndethist_2_with_one_detection_in_the_packet_is_0() -> None:
    assert roid([{"ndethist": 2, "sgscore1": 0.5, "prv_candidates": None}]) == [0]
    assert roid([{"ndethist": 2, "sgscore1": 0.5, "prv_candidates": [detection(10, None)]}]) == [0]


def test_missing_values_fire_no_rule() -> None:
    nulls = {k: None for k in ("ndethist", "sgscore1", "distpsnr1", "ssdistnr", "ssmagnr")}
    assert roid([nulls]) == [0]
    assert roid([nulls | {"ndethist": 1}]) == [1]


def test_rules_are_vectorised_over_a_mixed_batch() -> None:
    rows = [
        {},
        {"ndethist": 1},
        {"ndethist": 1, "sgscore1": 0.5},
        {"ssdistnr": 1.0, "ssmagnr": 19.0, "ndethist": 2},
    ]
    assert roid(rows * 3) == [0, 1, 2, 3] * 3


def test_config_refuses_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ScienceError, match="bogus"):
        Roid({"bogus": 1})
    with pytest.raises(ScienceError, match="known_radius_arcsec"):
        Roid({"known_radius_arcsec": -1})


def nalerthist(rows: list[dict[str, Any]]) -> list[int]:
    out = run_modules(ztf_rows(rows), [NAlertHist()])
    return out.column("nalerthist").to_pylist()


def test_nalerthist_counts_detections_not_upper_limits() -> None:
    history = [detection(60), detection(50, None), detection(40), detection(30, math.nan)]
    assert nalerthist([{"prv_candidates": history}, {"prv_candidates": None}, {"prv_candidates": []}]) == [
        3,
        1,
        1,
    ]


# --- real alerts -------------------------------------------------------------------------------------


def test_real_known_minor_planet_alert_is_3(shared_data: Path) -> None:
    path = shared_data / "ztf/fink_processed/fink-science/datatest"
    file = next(
        p
        for p in sorted(path.glob("*.parquet"))
        if 3 in pq.read_table(p, columns=["roid"])["roid"].to_pylist()
    )
    item = read_parquet(file)
    assert item is not None
    ours = run_modules(item.alerts, [Roid()], keys=("candid",))
    theirs = pq.read_table(file, columns=["candid", "roid"])
    known = set(np.asarray(theirs["candid"])[np.asarray(theirs["roid"]) == 3].tolist())
    assert known and set(np.asarray(ours["candid"])[np.asarray(ours["roid"]) == 3].tolist()) == known


def test_real_rubin_alerts_flag_the_survey_associated_sources(shared_data: Path) -> None:
    files = sorted((shared_data / "lsst/fink-broker/rubin_test_data_9_0_avro").rglob("*.avro"))
    payloads = pa.array([f.read_bytes() for f in files], pa.binary())
    alerts = decode_payloads(payloads, DecodeSettings(), survey="rubin").rubin_alerts
    flags = np.asarray(run_modules(alerts, [RubinRoid()])["roid"])
    associated = np.asarray(alerts["ssSource"].is_valid())
    n_sources = np.asarray(pa.compute.struct_field(alerts["diaObject"], "nDiaSources").fill_null(0))
    assert associated.any() and (flags[associated] == 3).all()
    assert ((flags == 1) == (~associated & (n_sources == 1))).all()
    assert set(flags.tolist()) == {0, 1, 3}


def test_rubin_rules_on_synthetic_rows() -> None:
    rows = rubin_rows(
        [
            {"ssSource": {"ssObjectId": 7}, "diaObject": None},
            {"diaObject": {"nDiaSources": 1}},
            {"diaObject": {"nDiaSources": 4}},
            {"ssObjectId": 9},  # schemas before 10: the association is the diaSource's own ssObjectId
            {"ssObjectId": 0, "diaObject": {"nDiaSources": 2}},
        ]
    )
    assert run_modules(rows, [RubinRoid()])["roid"].to_pylist() == [3, 1, 0, 3, 0]
    off = RubinRoid({"use_diasource_ssobjectid": False})
    assert run_modules(rows, [off])["roid"].to_pylist() == [3, 1, 0, 0, 0]
