"""The class rules: one test per rule on synthetic rows, their precedence, absent inputs, and agreement
with the reference broker's own `finkclass` on real alerts (its added columns as inputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from science_rows import ztf_rows

from siskin.science.base import ScienceError
from siskin.science.classes import labels
from siskin.science.classes.rules import RULES, ClassConfig, classify
from siskin.science.compare import read_parquet
from siskin.science.modules.classification import FinkClass
from siskin.science.modules.roid import Roid
from siskin.science.runner import run_modules

EXTRA = {
    "roid": pa.int32(),
    "cdsxmatch": pa.string(),
    "vsx": pa.string(),
    "gcvs": pa.string(),
    "mulens": pa.float64(),
    "snn_snia_vs_nonia": pa.float64(),
    "snn_sn_vs_all": pa.float64(),
    "rf_snia_vs_nonia": pa.float64(),
    "rf_kn_vs_nonkn": pa.float64(),
    "tracklet": pa.string(),
}

# Nothing fires on this row: a real, 10-day-old, 5-detection source with no scores or matches.
QUIET: dict[str, Any] = {
    "drb": 0.9,
    "classtar": 0.9,
    "jd": 2461000.5,
    "jdstarthist": 2460990.5,
    "ndethist": 5,
    "roid": 0,
    "cdsxmatch": "Unknown",
    "vsx": "Unknown",
    "gcvs": "Unknown",
    "mulens": 0.0,
    "snn_snia_vs_nonia": 0.1,
    "snn_sn_vs_all": 0.1,
    "rf_snia_vs_nonia": 0.0,
    "rf_kn_vs_nonkn": 0.0,
    "tracklet": None,
}
SN = QUIET | {"snn_sn_vs_all": 0.9}
KN = QUIET | {"rf_kn_vs_nonkn": 0.9, "jdstarthist": 2460998.5}


def table(rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> pa.Table:
    """Synthetic silver rows with the science columns the rules read (minus `drop`)."""
    base = ztf_rows([{k: v for k, v in r.items() if k not in EXTRA} for r in rows])
    for name, dtype in EXTRA.items():
        if name not in drop:
            base = base.append_column(name, pa.array([r.get(name) for r in rows], dtype))
    return base


def classes(rows: list[dict[str, Any]], **config: Any) -> list[str]:
    """The class of each row."""
    return classify(table(rows), ClassConfig(**config)).labels.to_pylist()


def test_unknown_when_nothing_fires() -> None:
    assert classes([QUIET, {k: None for k in QUIET}]) == ["Unknown", "Unknown"]


def test_simbad_label_overrides_everything() -> None:
    rows = [
        SN | {"cdsxmatch": "RRLyrae"},
        QUIET | {"roid": 3, "cdsxmatch": "EclBin", "vsx": "EW"},
        SN | {"cdsxmatch": "Galaxy"},  # a host galaxy is no override: the SN rule decides
        SN | {"cdsxmatch": "Fail 504"},  # a failure never overrides (and, as for the broker, allows a host)
        QUIET | {"cdsxmatch": "Fail 503"},
        QUIET | {"cdsxmatch": "Transient"},
        QUIET | {"cdsxmatch": None},
    ]
    expected = ["RRLyrae", "EclBin", "SN candidate", "SN candidate", "Unknown", "Unknown", "Unknown"]
    assert classes(rows) == expected


def test_variable_star_catalog_label() -> None:
    rows = [
        QUIET | {"vsx": "EW"},
        QUIET | {"gcvs": "RRAB"},
        SN | {"vsx": "SN Ia"},  # a non-stellar VSX type is no variable star
        QUIET | {"vsx": "Fail 503", "gcvs": "Fail"},
        QUIET | {"vsx": "EA", "gcvs": "EA"},
    ]
    assert classes(rows) == ["(VSX) EW", "(GCVS) RRAB", "SN candidate", "Unknown", "(VSX) EA"]
    # VSX's own notation: uncertain (`:`), alternatives (`|`), subtypes (`EA/SD`); mixed with a non-star: no
    notation = [QUIET | {"vsx": v} for v in ("EW:", "EB|EW", "EA/SD:", "RRAB/BL", "SN Ia|EA", ":")]
    expected_notation = ["(VSX) EW:", "(VSX) EB|EW", "(VSX) EA/SD:", "(VSX) RRAB/BL", "Unknown", "Unknown"]
    assert classes(notation) == expected_notation
    # the reference broker's behaviour: SIMBAD only
    assert classes(rows, variable_star_override=False) == [
        "Unknown",
        "Unknown",
        "SN candidate",
        "Unknown",
        "Unknown",
    ]


def test_ambiguous_when_several_of_microlensing_sn_and_solar_system_fire() -> None:
    rows = [
        SN | {"mulens": 0.4},
        QUIET | {"mulens": 0.4, "roid": 2},
        QUIET | {"mulens": 0.4, "roid": 3},
        SN | {"roid": 2},
        SN | {"roid": 3},  # the SN rule excludes known asteroids: not ambiguous
    ]
    assert classes(rows) == ["Ambiguous", "Ambiguous", "Ambiguous", "Ambiguous", "Solar System MPC"]


def test_solar_system_mpc() -> None:
    assert classes([QUIET | {"roid": 3}, QUIET | {"roid": 1}]) == ["Solar System MPC", "Unknown"]


def test_tracklet() -> None:
    rows = [
        QUIET | {"tracklet": "TRCK_20250901_0001"},
        QUIET | {"tracklet": "XTRCK"},
        QUIET | {"tracklet": ""},
    ]
    assert classes(rows) == ["Tracklet", "Unknown", "Unknown"]
    # a known asteroid outranks a tracklet, a tracklet outranks a solar-system candidate
    both = [QUIET | {"tracklet": "TRCK_1", "roid": 3}, QUIET | {"tracklet": "TRCK_1", "roid": 2}]
    assert classes(both) == ["Solar System MPC", "Tracklet"]


def test_solar_system_candidate() -> None:
    assert classes([QUIET | {"roid": 2}]) == ["Solar System candidate"]


def test_kilonova_candidate() -> None:
    rows = [
        KN,
        KN | {"rf_kn_vs_nonkn": 0.5},  # score not above 0.5
        KN | {"jdstarthist": 2460995.5},  # 5 days old: not younger than 5
        KN | {"ndethist": 20},  # 20 detections: not fewer than 20
        KN | {"drb": 0.5},
        KN | {"classtar": 0.39},  # (0.4 as float32 is 0.40000001 > 0.4, for the broker too)
        KN | {"cdsxmatch": "Fail 503"},  # not an extragalactic-compatible label
        KN | {"snn_sn_vs_all": 0.9},  # a kilonova outranks an SN
    ]
    expected = ["Kilonova candidate"] + ["Unknown"] * 6 + ["Kilonova candidate"]
    assert classes(rows) == expected


def test_early_sn_ia_candidate() -> None:
    early = SN | {"rf_snia_vs_nonia": 0.8, "ndethist": 1}  # early: a first detection is fine
    rows = [
        early,
        early | {"ndethist": 21},  # too many detections: plain SN
        early | {"rf_snia_vs_nonia": 0.5},
        early | {"snn_sn_vs_all": 0.1, "snn_snia_vs_nonia": 0.7},  # either SuperNNova score
        early | {"snn_sn_vs_all": 0.1},
        early | {"drb": 0.2},
    ]
    expected = [
        "Early SN Ia candidate",
        "SN candidate",
        "Unknown",
        "Early SN Ia candidate",
        "Unknown",
        "Unknown",
    ]
    assert classes(rows) == expected


def test_sn_candidate() -> None:
    rows = [
        SN,
        SN | {"jdstarthist": 2460900.0},  # 100.5 days since the first detection
        SN | {"ndethist": 1},  # first detection
        SN | {"drb": 0.5},
        SN | {"classtar": 0.3},
        SN | {"cdsxmatch": "Fail 503"},
        SN | {"snn_sn_vs_all": 0.5},
        SN | {"cdsxmatch": "Galaxy"},
    ]
    expected = ["SN candidate"] + ["Unknown"] * 6 + ["SN candidate"]
    assert classes(rows, sn_max_age_days=90) == expected
    assert classes([rows[1]], sn_max_age_days=120) == ["SN candidate"]


def test_microlensing_candidate() -> None:
    rows = [QUIET | {"mulens": 0.3}, QUIET | {"mulens": 0.0}, QUIET | {"mulens": None}]
    assert classes(rows) == ["Microlensing candidate", "Unknown", "Unknown"]
    labelled = table([QUIET, QUIET]).drop_columns(["mulens"]).append_column("mulens", pa.array(["ML", "CV"]))
    assert classify(labelled).labels.to_pylist() == ["Microlensing candidate", "Unknown"]


def test_microlensing_struct_and_wrong_types() -> None:
    per_band = pa.array(
        [{"class_1": "ML", "class_2": "ML"}, {"class_1": "ML", "class_2": ""}, None],
        pa.struct([("class_1", pa.string()), ("class_2", pa.string())]),
    )
    batch = table([QUIET] * 3).drop_columns(["mulens"]).append_column("mulens", per_band)
    assert classify(batch).labels.to_pylist() == ["Microlensing candidate", "Unknown", "Unknown"]
    wrong = table([QUIET]).drop_columns(["roid"]).append_column("roid", pa.array([[3]]))
    with pytest.raises(ScienceError, match="roid"):
        classify(wrong)


def test_every_rule_is_tested_and_documented() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.doc for r in RULES)
    tested = {
        "SIMBAD label",
        "Variable-star catalog label",
        "Ambiguous",
        "Solar System MPC",
        "Tracklet",
        "Solar System candidate",
        "Kilonova candidate",
        "Early SN Ia candidate",
        "SN candidate",
        "Microlensing candidate",
    }
    assert set(names) == tested


def test_a_rule_whose_inputs_are_absent_does_not_fire_and_is_reported() -> None:
    rows = [SN, QUIET | {"mulens": 0.4}]
    result = classify(table(rows, drop=("snn_snia_vs_nonia", "snn_sn_vs_all", "rf_kn_vs_nonkn", "tracklet")))
    assert result.labels.to_pylist() == ["Unknown", "Microlensing candidate"]
    assert result.skipped == {
        "SN candidate": ["snn_snia_vs_nonia or snn_sn_vs_all"],
        "Early SN Ia candidate": ["snn_snia_vs_nonia or snn_sn_vs_all"],
        "Kilonova candidate": ["rf_kn_vs_nonkn"],
        "Tracklet": ["tracklet"],
    }
    # one SuperNNova score is enough for the SN rules to run
    partial = classify(table(rows, drop=("snn_snia_vs_nonia",)))
    assert "SN candidate" not in partial.skipped
    assert partial.labels.to_pylist() == ["SN candidate", "Microlensing candidate"]


def test_module_runs_after_roid_and_reads_its_output() -> None:
    rows = [
        {
            "jd": 2461000.5,
            "ndethist": 1,
            "magpsf": 18.0,
            "drb": 0.9,
            "classtar": 0.9,
            "jdstarthist": 2461000.5,
        },
        {"ssdistnr": 1.0, "ssmagnr": 18.0, "distpsnr1": 10.0, "ndethist": 1, "jdstarthist": 2461000.5},
    ]
    batch = ztf_rows(rows)
    out = run_modules(batch, [FinkClass(), Roid()], keys=("candid",))  # listed before its producer
    assert out.column("roid").to_pylist() == [1, 3]
    assert out.column("finkclass").to_pylist() == ["Unknown", "Solar System MPC"]
    assert out.column("finkclass_version").to_pylist() == [FinkClass.version] * 2
    assert out.schema.field("finkclass").metadata[b"siskin.module_version"] == FinkClass.version.encode()


def test_module_logs_the_rules_it_cannot_run(caplog: pytest.LogCaptureFixture) -> None:
    module = FinkClass()
    batch = table([SN, QUIET], drop=("snn_snia_vs_nonia", "snn_sn_vs_all"))
    with caplog.at_level("WARNING", logger="siskin.science.modules.classification"):
        module.compute(batch)
        module.compute(batch)  # once per set of skipped rules, not per batch
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "SN candidate (needs snn_snia_vs_nonia or snn_sn_vs_all)" in warnings[0]


def peer_inputs(shared_data: Path) -> tuple[pa.Table, pa.Array]:
    """The SLSN sample decoded as silver, with the peer's own added columns as the rules' inputs."""
    path = shared_data / "ztf" / "fink_processed" / "fink-filters" / "few_SLSN_alerts.parquet"
    raw = pq.read_table(path, columns=["candid", "finkclass", *EXTRA])
    item = read_parquet(path)
    assert item is not None
    index = {c: i for i, c in enumerate(raw.column("candid").to_pylist())}
    take = pa.array([index[c] for c in item.alerts.column("candid").to_pylist()])
    alerts = item.alerts
    for name in EXTRA:
        alerts = alerts.append_column(name, raw.column(name).take(take))
    return alerts, pc_string(raw.column("finkclass").take(take))


def pc_string(values: pa.ChunkedArray) -> pa.Array:
    """A (dictionary-encoded) label column as plain strings."""
    return values.cast(pa.string()).combine_chunks()


@pytest.mark.parametrize("override", [True, False])
def test_agreement_with_the_peer_finkclass(shared_data: Path, override: bool) -> None:
    alerts, theirs = peer_inputs(shared_data)
    result = classify(alerts, ClassConfig(variable_star_override=override))
    ours = result.labels.to_pylist()
    agree = np.array([a == b for a, b in zip(ours, theirs.to_pylist(), strict=True)])
    disagreements = [(a, b) for a, b in zip(ours, theirs.to_pylist(), strict=True) if a != b]
    assert agree.mean() == 1.0, disagreements
    # the sample exercises several rules, not only the default
    assert {"SN candidate", "Ambiguous", "Supernova", "Unknown"} <= set(ours)
    assert result.skipped == {}


def test_label_sets_match_the_shared_taxonomy(shared_data: Path) -> None:
    lists = json.loads((shared_data / "taxonomy" / "fink_label_lists.json").read_text())
    assert labels.EG_HOST_LABELS == set(lists["simbad_eg_host_labels(full_simbad_conversion=False)"])
    assert labels.VSX_STELLAR == set(lists["vsx_stellar"])
    assert labels.SIMBAD_NO_MATCH == set(lists["simbad_failed_or_unknown_values_in_cdsxmatch"])
    names = (shared_data / "taxonomy" / "fink_types.csv").read_text().split("\n")
    classes_given = {r.name for r in RULES} - {"SIMBAD label", "Variable-star catalog label"}
    assert classes_given <= {n.strip() for n in names if n.strip()}


def test_report_command_on_peer_alerts(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siskin.science.classes.__main__ import main

    path = shared_data / "ztf" / "fink_processed" / "fink-filters" / "few_SLSN_alerts.parquet"
    assert main([str(path), "--broker-rules"]) == 0
    out = capsys.readouterr().out
    alerts, theirs = peer_inputs(shared_data)
    ours = classify(alerts, ClassConfig(variable_star_override=False)).labels.to_pylist()
    agreed = sum(a == b for a, b in zip(ours, theirs.to_pylist(), strict=True))
    assert f"finkclass agreement {agreed}/{alerts.num_rows}" in out
    assert "rule Variable-star catalog label  disabled" in out
    assert "skipped" not in out
