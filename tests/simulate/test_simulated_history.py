"""Objects recur across nights, and each alert's history is what earlier nights emitted."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

Alerts = list[dict[str, Any]]


def _by_object(alerts: Alerts) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in alerts:
        out[alert["objectId"]].append(alert)
    return out


def test_objects_recur_across_consecutive_nights(night1: Alerts, night2: Alerts) -> None:
    shared = set(_by_object(night1)) & set(_by_object(night2))
    assert len(shared) >= 10


def test_night2_history_holds_the_night1_detections_of_the_object(night1: Alerts, night2: Alerts) -> None:
    first, second = _by_object(night1), _by_object(night2)
    checked = 0
    for object_id in set(first) & set(second):
        earlier = {a["candid"]: a["candidate"] for a in first[object_id]}
        for alert in second[object_id]:
            prv = {p["candid"]: p for p in alert["prv_candidates"] or [] if p["candid"] is not None}
            assert set(earlier) <= set(prv)
            for candid, cand in earlier.items():
                assert prv[candid]["magpsf"] == cand["magpsf"]
                assert prv[candid]["jd"] == cand["jd"]
                checked += 1
    assert checked >= 10


def test_history_is_the_30_days_before_the_alert_in_time_order(night2: Alerts) -> None:
    for alert in night2:
        jd = alert["candidate"]["jd"]
        times = [p["jd"] for p in alert["prv_candidates"] or []]
        assert times == sorted(times)
        assert all(jd - 30 <= t < jd for t in times)


def test_detection_counts_cover_the_history(night2: Alerts) -> None:
    for alert in night2:
        detections = sum(p["candid"] is not None for p in alert["prv_candidates"] or [])
        cand = alert["candidate"]
        assert cand["ndethist"] >= detections + 1
        assert cand["ncovhist"] >= cand["ndethist"]
        assert cand["jdstarthist"] <= cand["jd"] == cand["jdendhist"]


def test_same_night_repeats_list_the_earlier_detection(night2: Alerts) -> None:
    for alerts in _by_object(night2).values():
        for earlier, later in zip(alerts, alerts[1:], strict=False):
            prv = [p["candid"] for p in later["prv_candidates"] or []]
            assert earlier["candid"] in prv


def test_forced_photometry_is_recent_and_matches_the_exposures(night2: Alerts) -> None:
    with_fp = [a for a in night2 if a["fp_hists"]]
    assert with_fp
    for alert in with_fp:
        prv_jd = {p["jd"] for p in alert["prv_candidates"] or []}
        assert len(alert["fp_hists"]) <= 10
        assert {f["jd"] for f in alert["fp_hists"]} <= prv_jd
        assert all(np.isfinite(f["forcediffimflux"]) for f in alert["fp_hists"])


def test_an_object_keeps_its_template_cutout_in_each_filter(night1: Alerts, night2: Alerts) -> None:
    templates: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    for alert in night1 + night2:
        key = (alert["objectId"], alert["candidate"]["fid"])
        templates[key].append(alert["cutoutTemplate"]["stampData"])
    repeated = [stamps for stamps in templates.values() if len(stamps) > 1]
    assert len(repeated) >= 10
    assert all(len(set(stamps)) == 1 for stamps in repeated)
