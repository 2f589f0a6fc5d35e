"""Simulated alerts look like real ZTF 4.02 alerts: valid, sized, named and timed like them."""

from __future__ import annotations

import gzip
import io
import re
from typing import Any

import fastavro
import fastavro.validation
import numpy as np
import pytest
from astropy.io import fits

from siskin.simulate import simulate_night
from siskin.simulate.schedule import jd_midnight, night_id

Alerts = list[dict[str, Any]]
Payloads = list[tuple[int, bytes]]


def test_every_alert_validates_against_the_official_schema(night1: Alerts, official_schema: Any) -> None:
    for alert in night1:
        assert fastavro.validation.validate(alert, official_schema, raise_errors=True)


def test_payloads_decode_with_the_official_schema_as_reader(
    night1_payloads: Payloads, official_schema: Any
) -> None:
    for _, payload in night1_payloads[:50]:
        (record,) = list(fastavro.reader(io.BytesIO(payload), reader_schema=official_schema))
        assert isinstance(record, dict) and record["schemavsn"] == "4.02"


def test_each_payload_is_a_single_alert_container_like_ztf_kafka(night1_payloads: Payloads) -> None:
    reader = fastavro.reader(io.BytesIO(night1_payloads[0][1]))
    schema: Any = reader.writer_schema
    assert reader.codec == "null"
    assert schema["name"] == "ztf.alert" and schema["version"] == "4.02"
    assert len(list(reader)) == 1


def test_a_night_has_exactly_n_alerts_in_time_order(night1: Alerts, sim: Any) -> None:
    assert len(night1) == sim.n_alerts
    jds = [a["candidate"]["jd"] for a in night1]
    assert jds == sorted(jds)


def test_mean_alert_size_is_like_real_alerts(night1_payloads: Payloads) -> None:
    mean_kb = np.mean([len(p) for _, p in night1_payloads]) / 1000
    assert 35 <= mean_kb <= 60


def test_cutouts_are_gzipped_63x63_fits_with_a_source_in_science_and_difference(night1: Alerts) -> None:
    for alert in night1[:20]:
        images = {}
        for name in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            with fits.open(gzip.open(io.BytesIO(alert[name]["stampData"]))) as hdus:
                images[name] = np.asarray(hdus[0].data, dtype=np.float64)
            assert images[name].shape == (63, 63)
            assert alert[name]["fileName"].endswith(".fits.gz")
        for name in ("cutoutScience", "cutoutDifference"):
            img = images[name]
            assert img[29:34, 29:34].max() > np.median(img)


def test_same_arguments_give_identical_bytes(sim: Any) -> None:
    first = list(simulate_night(sim.night1, n_alerts=40, seed=sim.seed))
    assert first == list(simulate_night(sim.night1, n_alerts=40, seed=sim.seed))
    assert first != list(simulate_night(sim.night1, n_alerts=40, seed=sim.seed + 1))


def test_candids_are_unique_ztf_like_and_encode_the_pid(night1: Alerts, night2: Alerts) -> None:
    candids = [a["candid"] for a in night1 + night2]
    assert len(set(candids)) == len(candids)
    for alert in night1:
        cand = alert["candidate"]
        assert alert["candid"] == cand["candid"]
        assert len(str(cand["candid"])) == 19
        assert cand["candid"] // 1_000_000 == cand["pid"]
        assert str(cand["pid"]).startswith(str(cand["nid"]))


def test_object_ids_positions_and_times_look_like_ztf(night1: Alerts, sim: Any) -> None:
    midnight = jd_midnight(night_id(sim.night1))
    for alert in night1:
        cand = alert["candidate"]
        assert re.fullmatch(r"ZTF\d{2}[a-z]{7}", alert["objectId"])
        assert 0 <= cand["ra"] < 360 and -30 <= cand["dec"] <= 90
        assert midnight + 3 / 24 <= cand["jd"] <= midnight + 12.5 / 24
        assert 19.0 <= cand["diffmaglim"] <= 21.3
        assert cand["isdiffpos"] in ("t", "f")
        assert 0 <= cand["rcid"] <= 63


def test_filters_are_mostly_g_and_r_with_some_i(night1: Alerts, night2: Alerts) -> None:
    fids = np.array([a["candidate"]["fid"] for a in night1 + night2])
    assert set(fids) <= {1, 2, 3}
    assert np.mean(fids != 3) > 0.85


def test_magnitudes_are_consistent_with_the_limit(night1: Alerts) -> None:
    for alert in night1:
        cand = alert["candidate"]
        assert cand["magpsf"] < cand["diffmaglim"] + 0.01
        snr = 1.0857 / cand["sigmapsf"]
        assert snr > 4.9


def test_bogus_fraction_is_realistic(night1: Alerts) -> None:
    bogus = np.array([a["candidate"]["drb"] < 0.5 for a in night1])
    assert 0.05 <= bogus.mean() <= 0.30
    rb = np.array([a["candidate"]["rb"] for a in night1])
    assert np.median(rb[bogus]) < 0.4 < np.median(rb[~bogus])
    assert any(a["candidate"]["nbad"] > 0 for a in night1)


def test_asteroids_carry_solar_system_fields_and_no_past_detections(night1: Alerts) -> None:
    asteroids = [a for a in night1 if a["candidate"]["ssnamenr"] != "null"]
    assert asteroids, "expected some solar-system alerts"
    for alert in asteroids:
        cand = alert["candidate"]
        assert cand["ssdistnr"] >= 0 and 15 < cand["ssmagnr"] < 23
        assert cand["ndethist"] == 1
        assert all(p["candid"] is None for p in alert["prv_candidates"] or [])
    others = [a["candidate"] for a in night1 if a["candidate"]["ssnamenr"] == "null"]
    assert all(c["ssdistnr"] == -999.0 for c in others)


@pytest.mark.parametrize("field", ["candid", "magpsf", "sigmapsf", "isdiffpos", "ra", "rb"])
def test_upper_limits_describe_only_the_exposure(night1: Alerts, field: str) -> None:
    limits = [p for a in night1 for p in a["prv_candidates"] or [] if p["magpsf"] is None]
    assert limits
    assert all(p[field] is None and p["diffmaglim"] is not None for p in limits)
