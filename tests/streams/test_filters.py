"""Filters: each standard filter on synthetic silver rows, discovery, the declarative form, the contract."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "science"))
from science_rows import rubin_rows, ztf_rows  # noqa: E402

from siskin.streams.filters import registry  # noqa: E402
from siskin.streams.filters.base import Filter, FilterError  # noqa: E402
from siskin.streams.filters.declarative import DeclarativeFilter  # noqa: E402


def passed(name: str, rows: list[dict[str, Any]], config: dict[str, Any] | None = None) -> list[bool]:
    """The mask of the named built-in filter over synthetic ZTF rows, as Python booleans."""
    (f,) = registry.build([name], survey="ztf", configs={name: config} if config else None)
    return f.mask(with_columns(ztf_rows(rows), rows)).to_pylist()


def with_columns(table: pa.Table, rows: list[dict[str, Any]]) -> pa.Table:
    """Append the science outputs the rows give that silver lacks, typed as the modules type them."""
    types = {
        "roid": pa.int32(),
        "nalerthist": pa.int32(),
        "mulens": pa.float64(),
        "rf_snia_vs_nonia": pa.float64(),
        "snn_snia_vs_nonia": pa.float64(),
        "snn_sn_vs_all": pa.float64(),
        "rf_kn_vs_nonkn": pa.float64(),
        "anomaly_score": pa.float64(),
        "cdsxmatch": pa.string(),
        "vsx": pa.string(),
        "gcvs": pa.string(),
        "finkclass": pa.string(),
    }
    for name, dtype in types.items():
        if any(name in r for r in rows) and name not in table.column_names:
            table = table.append_column(name, pa.array([r.get(name) for r in rows], dtype))
    return table


REAL = {"isdiffpos": "t", "drb": 0.9}


def test_bright_transients() -> None:
    rows = [
        REAL | {"magpsf": 18.5},
        REAL | {"magpsf": 19.0},  # not brighter than 19
        REAL | {"magpsf": 18.5, "isdiffpos": "f"},  # fading against the reference
        REAL | {"magpsf": 18.5, "drb": 0.1},  # bogus
        REAL | {"magpsf": None},
    ]
    assert passed("bright_transients", rows) == [True, False, False, False, False]
    assert passed("bright_transients", rows, {"max_mag": 19.5}) == [True, True, False, False, False]


def test_new_objects() -> None:
    rows = [
        REAL | {"ndethist": 1},
        REAL | {"ndethist": 2},
        REAL | {"ndethist": 1, "drb": 0.2},
        {"ndethist": 1},
    ]
    assert passed("new_objects", rows) == [True, False, False, False]


SN_ROW = REAL | {
    "classtar": 0.9,
    "jd": 2461000.5,
    "jdstarthist": 2460990.5,
    "ndethist": 5,
    "roid": 0,
    "cdsxmatch": "Unknown",
    "snn_snia_vs_nonia": 0.2,
    "snn_sn_vs_all": 0.8,
    "rf_snia_vs_nonia": 0.1,
}


def test_sn_candidates() -> None:
    rows = [SN_ROW, SN_ROW | {"roid": 3}, SN_ROW | {"snn_sn_vs_all": 0.3}, SN_ROW | {"mulens": 0.5}]
    # the filter follows its rule, not the final class: the last row is classed Ambiguous but passes
    assert passed("sn_candidates", rows) == [True, False, False, True]
    tighter = {"thresholds": {"sn_min_score": 0.85}}
    assert passed("sn_candidates", rows, tighter) == [False, False, False, False]


def test_early_sn_ia_candidates() -> None:
    rows = [SN_ROW | {"rf_snia_vs_nonia": 0.7}, SN_ROW, SN_ROW | {"rf_snia_vs_nonia": 0.7, "ndethist": 30}]
    assert passed("early_sn_ia_candidates", rows) == [True, False, False]


def test_rule_filters_name_what_stops_them() -> None:
    (f,) = registry.build(["sn_candidates"], survey="ztf")
    bare = with_columns(ztf_rows([SN_ROW]), [{"roid": 0, "cdsxmatch": "Unknown"}])
    assert f.missing(bare.schema) == ["snn_snia_vs_nonia or snn_sn_vs_all"]
    with pytest.raises(FilterError, match="snn_sn_vs_all"):
        f.mask(bare)


def test_microlensing_candidates() -> None:
    rows = [{"mulens": 0.4}, {"mulens": 0.0}, {"mulens": None}]
    assert passed("microlensing_candidates", rows) == [True, False, False]


def test_solar_system() -> None:
    rows = [{"roid": 3}, {"roid": 2}, {"roid": 1}, {"roid": 0}, {"roid": None}]
    assert passed("solar_system", rows) == [True, True, False, False, False]
    assert passed("solar_system", rows, {"include_candidates": False}) == [True, False, False, False, False]


def test_variable_stars() -> None:
    rows = [
        {"cdsxmatch": "RRLyrae", "vsx": "Unknown", "gcvs": "Unknown"},
        {"cdsxmatch": "QSO", "vsx": "EW", "gcvs": "Unknown"},
        {"cdsxmatch": "Unknown", "vsx": "Unknown", "gcvs": "RRAB"},
        {"cdsxmatch": "Galaxy", "vsx": "SN Ia", "gcvs": "Unknown"},  # a non-stellar VSX type
        {"cdsxmatch": "Fail", "vsx": "Fail 503", "gcvs": None},
    ]
    assert passed("variable_stars", rows) == [True, True, True, False, False]
    assert passed("variable_stars", rows, {"simbad": False}) == [False, True, True, False, False]
    # runs with whichever label columns exist
    only_simbad = with_columns(ztf_rows(rows), [{"cdsxmatch": r["cdsxmatch"]} for r in rows])
    (f,) = registry.build(["variable_stars"], survey="ztf")
    assert f.mask(only_simbad).to_pylist() == [True, False, False, False, False]
    assert f.missing(ztf_rows(rows).schema) == ["cdsxmatch or gcvs or vsx"]


def anomaly_rows(scores: list[float | None], night: int = 20260101, first: int = 0) -> pa.Table:
    """Alerts of one night with the given anomaly scores and candids first, first + 1, ..."""
    rows = [{"night": night, "candid": first + i, "anomaly_score": s} for i, s in enumerate(scores)]
    return with_columns(ztf_rows(rows), rows)


def test_anomalies_running_top_n_per_night_and_seed() -> None:
    config = {"anomalies": {"top_n": 2}}
    (f,) = registry.build(["anomalies"], survey="ztf", configs=config)
    assert f.stateful
    first = anomaly_rows([-0.5, -0.1, -0.3, None])
    assert f.mask(first).to_pylist() == [True, False, True, False]  # lowest is most anomalous
    second = anomaly_rows([-0.2, -0.9, -0.4], first=10)
    assert f.mask(second).to_pylist() == [False, True, False]  # -0.9 displaces -0.3; -0.4 ranks third
    other_night = anomaly_rows([-0.01, 0.3, 0.2], night=20260102, first=20)
    assert f.mask(other_night).to_pylist() == [True, False, True]  # nights rank apart (ties: candid)

    # a restarted stream, seeded from what passed, decides as the first one would
    keep_first, keep_second = pa.array([True, False, True, False]), pa.array([False, True, False])
    passed_before = pa.concat_tables([first.filter(keep_first), second.filter(keep_second)])
    (restarted,) = registry.build(["anomalies"], survey="ztf", configs=config)
    restarted.seed(passed_before.select(["night", "anomaly_score", "candid"]))
    third = anomaly_rows([-0.45, -1.0, 0.0], first=30)
    assert restarted.mask(third).to_pylist() == f.mask(third).to_pylist() == [False, True, False]
    # replaying a batch already in the state: its alerts compete as themselves, not against their copies
    (replayed,) = registry.build(["anomalies"], survey="ztf", configs=config)
    replayed.seed(first.filter(pa.array([True, False, True, False])))
    assert replayed.mask(first).to_pylist() == [True, False, True, False]
    # seeding night by night adds to the state: the night seeded first is not forgotten
    (by_night,) = registry.build(["anomalies"], survey="ztf", configs=config)
    by_night.seed(passed_before)
    by_night.seed(other_night.filter(pa.array([True, False, True])))
    by_night.seed(other_night.slice(0, 0))
    assert by_night.mask(third).to_pylist() == [False, True, False]
    late = anomaly_rows([0.1, 0.25], night=20260102, first=40)
    assert by_night.mask(late).to_pylist() == [True, False]  # night 2 holds -0.01 and 0.2: 0.1 displaces 0.2
    # the highest end when configured
    (high,) = registry.build(
        ["anomalies"], survey="ztf", configs={"anomalies": {"most_anomalous": "highest", "top_n": 1}}
    )
    assert high.mask(first).to_pylist() == [False, True, False, False]


def test_registry_lists_and_builds_the_standard_filters() -> None:
    names = set(registry.available("ztf"))
    standard = {
        "bright_transients",
        "new_objects",
        "sn_candidates",
        "early_sn_ia_candidates",
        "microlensing_candidates",
        "solar_system",
        "variable_stars",
        "anomalies",
    }
    assert standard <= names
    built = registry.build(None, survey="ztf")
    assert {f.name for f in built} == names
    for f in built:
        assert f.version and f.description and f.inputs and f.survey == "ztf"
    with pytest.raises(FilterError, match="unknown filters"):
        registry.build(["nope"], survey="ztf")
    with pytest.raises(FilterError, match="unknown filters"):
        registry.build(None, survey="ztf", configs={"no_such_filter": {}})
    rubin = registry.build(None, survey="rubin", configs={"anomalies": {"top_n": 3}})  # a ZTF filter's config
    assert {f.name for f in rubin} == set(registry.available("rubin"))
    assert {"rubin_bright_transients", "rubin_new_objects", "rubin_solar_system"} <= {f.name for f in rubin}
    with pytest.raises(FilterError, match="invalid config"):
        registry.build(["bright_transients"], configs={"bright_transients": {"max_magg": 18}})


def test_register_a_plugin_filter() -> None:
    class Odd(Filter):
        name = "test_odd_candid"
        description = "odd candids"
        version = "0.1"
        survey = "ztf"
        inputs = ("candid",)

        def keep(self, batch: pa.Table) -> pa.Array:
            import pyarrow.compute as pc

            return pc.equal(pc.bit_wise_and(self.column(batch, "candid"), 1), 1)

    registry.register(Odd)
    try:
        (f,) = registry.build(["test_odd_candid"], survey="ztf")
        assert f.mask(ztf_rows([{}, {}, {}])).to_pylist() == [False, True, False]  # candid 1000, 1001, 1002
        with pytest.raises(FilterError, match="taken"):

            class Again(Odd):
                pass

            registry.register(Again)
    finally:
        registry.FILTERS.classes.pop("test_odd_candid", None)


def test_missing_inputs_are_named() -> None:
    (f,) = registry.build(["bright_transients"], survey="ztf")
    table = ztf_rows([REAL | {"magpsf": 18.0}]).drop_columns(["drb"])
    assert f.missing(table.schema) == ["drb"]
    with pytest.raises(FilterError, match="drb"):
        f.mask(table)


DECLARATIVE = {
    "name": "bright_red",
    "description": "r-band alerts brighter than 18, real or unscored",
    "survey": "ztf",
    "where": {
        "all": [
            {"column": "magpsf", "op": "<", "value": 18},
            {"column": "fid", "op": "in", "value": [2]},
            {"any": [{"column": "drb", "op": ">", "value": 0.8}, {"column": "drb", "op": "is_null"}]},
            {"not": {"column": "objectId", "op": "startswith", "value": "ZTF26aaaa0003"}},
        ]
    },
}


def test_declarative_filter() -> None:
    rows = [
        {"magpsf": 17.0, "fid": 2, "drb": 0.9},
        {"magpsf": 17.0, "fid": 1, "drb": 0.9},  # g band
        {"magpsf": 18.5, "fid": 2, "drb": 0.9},  # too faint
        {"magpsf": 17.0, "fid": 2, "drb": 0.9},  # objectId ZTF26aaaa0003: excluded by the not
        {"magpsf": 17.0, "fid": 2},  # no drb: passes by the any
        {"magpsf": 17.0, "fid": 2, "drb": 0.5},
        {"fid": 2, "drb": 0.9},  # null magnitude never passes
    ]
    (f,) = registry.build([], survey="ztf", declared=[DECLARATIVE])
    assert isinstance(f, DeclarativeFilter)
    assert (f.name, f.version, f.survey) == ("bright_red", "1", "ztf")
    assert f.inputs == ("drb", "fid", "magpsf", "objectId")
    assert f.mask(ztf_rows(rows)).to_pylist() == [True, False, False, False, True, False, False]


@pytest.mark.parametrize(
    "where",
    [
        "magpsf < 19",  # a string is not an expression
        "__import__('os').system('touch /tmp/pwned')",
        {"column": "__import__('os').system('id')", "op": "<", "value": 19},
        {"column": "magpsf", "op": "lambda: 1", "value": 19},
        {"column": "magpsf", "op": "<", "value": 19, "code": "exec('1')"},
        {"column": "magpsf", "op": "<", "value": [19, 20]},
        {"column": "magpsf", "op": "in", "value": []},
        {"all": []},
    ],
)
def test_declarative_filter_refuses_hostile_or_malformed_specs(where: Any, monkeypatch: Any) -> None:
    import builtins

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("eval/exec reached")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    with pytest.raises(FilterError):
        DeclarativeFilter.from_spec(DECLARATIVE | {"where": where})


def test_declarative_type_mismatch_is_a_filter_error() -> None:
    spec = DECLARATIVE | {"where": {"column": "magpsf", "op": "<", "value": "bright"}}
    f = DeclarativeFilter.from_spec(spec)
    with pytest.raises(FilterError, match="type"):
        f.mask(ztf_rows([{"magpsf": 17.0}]))


def test_rubin_filters() -> None:
    rows = [
        {"psfFlux": 200_000.0, "isNegative": False, "diaObject": {"nDiaSources": 1}},  # mag 18.15
        {"psfFlux": 50_000.0, "isNegative": False, "diaObject": {"nDiaSources": 3}},  # mag 19.65
        {"psfFlux": 200_000.0, "isNegative": True, "diaObject": {"nDiaSources": 1}},
        {"psfFlux": None, "isNegative": None},
    ]
    batch = rubin_rows(rows).append_column("roid", pa.array([3, 0, 1, None], pa.int32()))
    built = {f.name: f for f in registry.build(None, survey="rubin")}
    assert built["rubin_bright_transients"].mask(batch).to_pylist() == [True, False, False, False]
    assert built["rubin_new_objects"].mask(batch).to_pylist() == [True, False, False, False]
    assert built["rubin_solar_system"].mask(batch).to_pylist() == [True, False, False, False]


def test_filter_function() -> None:
    import numpy as np
    import pyarrow.compute as pc

    from siskin.streams.filters.function import filter_function

    @filter_function(
        name="test_red_bright", description="r band, brighter than 18", version="2", inputs=("magpsf", "fid")
    )
    def red_bright(magpsf: pa.Array, fid: pa.Array) -> pa.Array:
        return pc.and_(pc.less(magpsf, 18), pc.equal(fid, 2))

    try:
        (f,) = registry.build(["test_red_bright"], survey="ztf")
        assert (f.name, f.version, f.inputs) == ("test_red_bright", "2", ("magpsf", "fid"))
        rows = [{"magpsf": 17.0, "fid": 2}, {"magpsf": 17.0, "fid": 1}, {"magpsf": None, "fid": 2}]
        assert f.mask(ztf_rows(rows)).to_pylist() == [True, False, False]
    finally:
        registry.FILTERS.classes.pop("test_red_bright", None)

    @filter_function(name="t_bad", description="d", version="1", inputs=("magpsf",), registered=False)
    def bad(magpsf: pa.Array) -> np.ndarray:
        return np.zeros(len(magpsf), np.int64)

    assert "t_bad" not in registry.available()
    with pytest.raises(FilterError, match="int64"):
        bad().mask(ztf_rows([{}]))
