"""The science module contract: registry and discovery, input and output checks, versions, catalog tables."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pytest
from science_rows import ztf_rows

from siskin.lake.catalog import table
from siskin.science import registry
from siskin.science.base import ModuleConfig, Output, ScienceError, ScienceModule
from siskin.science.paths import input_column
from siskin.science.runner import run_modules
from siskin.science.tables import ZTF_ALERTS, science_schema


class Doubler(ScienceModule):
    """Twice magpsf, and the number of history rows (reads a dotted path into the history)."""

    name = "doubler"
    version = "2.1.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("magpsf", "prv_candidates.jd")
    outputs = (Output("twice_mag", pa.float32(), "2 x magpsf"), Output("n_prv", pa.int32(), "history rows"))

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        history = input_column(batch, "prv_candidates.jd")
        assert history is not None
        return {
            "twice_mag": pa.compute.multiply(batch["magpsf"], pa.scalar(2.0, pa.float32())).combine_chunks(),
            "n_prv": pa.compute.cast(
                pa.compute.fill_null(pa.compute.list_value_length(history), 0), pa.int32()
            ),
        }


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry copy the test may extend; the process-wide one is restored afterwards."""
    registry.discover()
    monkeypatch.setattr(registry.MODULES, "classes", dict(registry.MODULES.classes))
    yield


def rows() -> pa.Table:
    return ztf_rows([{"magpsf": 18.0, "prv_candidates": [{"jd": 1.0}, {"jd": 2.0}]}, {"magpsf": 19.5}])


def test_builtin_modules_are_discovered() -> None:
    ztf = registry.available("ztf")
    assert {"roid", "nalerthist"} <= set(ztf)
    assert "rubin_roid" in registry.available("rubin") and "rubin_roid" not in ztf
    modules = registry.build(["roid"], configs={"roid": {"known_radius_arcsec": 3.0}})
    assert modules[0].config.model_dump()["known_radius_arcsec"] == 3.0


def test_build_refuses_unknown_modules_and_stray_configs() -> None:
    with pytest.raises(ScienceError, match="unknown science modules"):
        registry.build(["no_such_module"])
    with pytest.raises(ScienceError, match="not run"):
        registry.build(["roid"], configs={"nalerthist": {}})


def test_register_refuses_a_taken_name_and_an_incomplete_class(clean_registry: None) -> None:
    registry.register(Doubler)
    registry.register(Doubler)  # the same class again is harmless

    class Other(Doubler):
        pass

    with pytest.raises(ScienceError, match="taken"):
        registry.register(Other)

    class Incomplete(ScienceModule):
        name = "incomplete"

        def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
            return {}

    with pytest.raises(ScienceError, match="does not declare"):
        registry.register(Incomplete)


def test_entry_point_plugins_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry: None
) -> None:
    (tmp_path / "siskin_plugin_demo.py").write_text(
        textwrap.dedent(
            """
            import pyarrow as pa
            from siskin.science.base import Output, ScienceModule

            class Brightness(ScienceModule):
                name = "plugin_brightness"
                version = "0.3"
                survey = "ztf"
                table = "silver.alerts"
                inputs = ("magpsf",)
                outputs = (Output("bright", pa.bool_(), "magpsf < 19"),)

                def compute(self, batch):
                    return {"bright": pa.compute.less(batch["magpsf"], 19.0).combine_chunks()}
            """
        )
    )
    dist = tmp_path / "siskin_plugin_demo-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: siskin-plugin-demo\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[siskin.science]\nbrightness = siskin_plugin_demo:Brightness\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry.MODULES, "_discovered", False)
    registry.discover()
    assert "plugin_brightness" in registry.available("ztf")
    out = run_modules(rows(), registry.build(["plugin_brightness"]))
    assert out["bright"].to_pylist() == [True, False]
    assert out["plugin_brightness_version"].to_pylist() == ["0.3", "0.3"]
    fields = science_schema(ZTF_ALERTS).names
    assert "bright" in fields and "plugin_brightness_version" in fields
    sys.modules.pop("siskin_plugin_demo", None)
    registry.MODULES.classes.pop("plugin_brightness")


def test_outputs_carry_keys_values_and_the_module_version() -> None:
    out = run_modules(rows(), [Doubler()], keys=("objectId", "candid"))
    assert out.column_names == ["objectId", "candid", "twice_mag", "n_prv", "doubler_version"]
    assert out["twice_mag"].to_pylist() == [36.0, 39.0]
    assert out["n_prv"].to_pylist() == [2, 0]
    assert out["doubler_version"].to_pylist() == ["2.1.0", "2.1.0"]
    assert out["candid"].to_pylist() == rows()["candid"].to_pylist()
    meta = out.schema.field("twice_mag").metadata
    assert meta == {b"siskin.module": b"doubler", b"siskin.module_version": b"2.1.0"}


def test_missing_inputs_are_named() -> None:
    batch = rows().drop_columns(["magpsf"])
    with pytest.raises(ScienceError, match="doubler needs magpsf"):
        run_modules(batch, [Doubler()])
    with pytest.raises(ScienceError, match="keys needs diaSourceId"):
        run_modules(rows(), [Doubler()], keys=("diaSourceId",))
    assert input_column(rows(), "prv_candidates.no_such_field") is None
    assert input_column(rows(), "magpsf.deeper") is None


def test_no_suffix_matching_of_input_names() -> None:
    class Suffix(Doubler):
        name = "suffix"
        inputs = ("candidate.magpsf",)  # the broker's nested name: silver has `magpsf`, nothing matches

    with pytest.raises(ScienceError, match=r"candidate\.magpsf"):
        run_modules(rows(), [Suffix()])


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            {"twice_mag": pa.array([1.0, 2.0], pa.float64()), "n_prv": pa.array([0, 0], pa.int32())},
            "declares",
        ),
        ({"twice_mag": pa.array([1.0], pa.float32()), "n_prv": pa.array([0], pa.int32())}, "1 values for 2"),
        ({"twice_mag": pa.array([1.0, 2.0], pa.float32())}, "returned columns"),
    ],
)
def test_outputs_are_checked(result: dict[str, pa.Array], message: str) -> None:
    class Broken(Doubler):
        name = "broken"

        def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
            return result

    with pytest.raises(ScienceError, match=message):
        run_modules(rows(), [Broken()])


def test_two_modules_cannot_produce_the_same_column() -> None:
    class Again(Doubler):
        name = "again"

    with pytest.raises(ScienceError, match="twice_mag"):
        run_modules(rows(), [Doubler(), Again()])


def test_config_is_typed_and_strict() -> None:
    class Cfg(ModuleConfig):
        limit: float = 1.0

    class Configured(Doubler):
        name = "configured"
        Config = Cfg

    assert Configured({"limit": "2.5"}).config == Cfg(limit=2.5)
    with pytest.raises(ScienceError, match="extra"):
        Configured({"limt": 2.0})
    with pytest.raises(ScienceError, match="must be a Cfg"):
        Configured(ModuleConfig())


def test_science_outputs_are_columns_of_the_silver_tables() -> None:
    schema = table(ZTF_ALERTS).arrow_schema()
    assert schema.field("roid").type == pa.int32() and schema.field("roid_version").type == pa.string()
    assert schema.field("nalerthist").type == pa.int32()
    assert schema.get_field_index("roid") < schema.get_field_index("bronze_sha256")  # before provenance
    rubin = table("silver.rubin_alerts").arrow_schema()
    assert rubin.field("roid").type == pa.int32() and "rubin_roid_version" in rubin.names
    assert "nalerthist" not in rubin.names  # a ZTF module


def test_chunked_and_sliced_batches_give_the_rows_own_values() -> None:
    one = rows()
    many = pa.concat_tables([one, one, one]).slice(1, 4)  # 3 chunks, the first sliced
    assert many.column("prv_candidates").num_chunks == 3
    out = run_modules(many, [Doubler()])
    assert out["n_prv"].to_pylist() == [0, 2, 0, 2]
    assert out["twice_mag"].to_pylist() == [39.0, 36.0, 39.0, 36.0]
    assert input_column(many, "prv_candidates.jd").to_pylist() == [None, [1.0, 2.0], None, [1.0, 2.0]]
