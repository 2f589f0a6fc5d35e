"""Science modules run in the silver stage: outputs are silver columns, in dependency order, never fatal."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pyarrow as pa
import pytest
from science_rows import ztf_rows

from siskin.config import Settings
from siskin.science import enrich, registry
from siskin.science.base import Output, ScienceError, ScienceModule
from siskin.science.runner import dependency_order, run_modules
from siskin.science.tables import ZTF_ALERTS


def _bronze(n: int) -> pa.Table:
    from siskin.bronze.transform import kafka_received_arrow, to_bronze_table
    from siskin.simulate.ztf import simulate_night

    payloads = list(simulate_night(20260301, n_alerts=n, seed=7))
    messages = pa.table(
        {
            "value": pa.array(payloads, pa.binary()),
            "topic": pa.array(["ztf"] * n),
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(np.arange(n), pa.int64()),
            "timestamp": pa.array([1_772_000_000_000] * n, pa.int64()),
            "sent_ns": pa.nulls(n, pa.int64()),
        }
    )
    return to_bronze_table(kafka_received_arrow(messages), Settings().decode)


class Brightness(ScienceModule):
    name = "test_brightness"
    version = "1.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("magpsf",)
    outputs = (Output("test_bright", pa.bool_(), "magpsf < 19"),)

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        return {"test_bright": pa.compute.less(batch["magpsf"], 19.0).combine_chunks()}


class Reads(ScienceModule):
    """Reads Brightness's output: must run after it."""

    name = "test_reads"
    version = "2.0"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("test_bright",)
    optional_inputs = ("not_produced_anywhere",)
    outputs = (Output("test_dim", pa.bool_(), "not bright"),)

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        assert "not_produced_anywhere" not in batch.column_names
        return {"test_dim": pa.compute.invert(batch["test_bright"]).combine_chunks()}


class Broken(ScienceModule):
    name = "test_broken"
    version = "0.1"
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = ("magpsf",)
    outputs = (Output("test_never", pa.float64(), "raises"),)

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        raise RuntimeError("model file is corrupt")


@pytest.fixture
def extra_modules() -> Iterator[None]:
    registry.discover()
    for cls in (Brightness, Reads, Broken):
        registry.register(cls)
    enrich._BUILT.clear()
    yield
    for cls in (Brightness, Reads, Broken):
        registry.MODULES.classes.pop(cls.name, None)
    enrich._BUILT.clear()


def test_modules_run_after_the_modules_whose_outputs_they_read() -> None:
    ordered = dependency_order([Reads(), Brightness()])
    assert [m.name for m in ordered] == ["test_brightness", "test_reads"]
    out = run_modules(ztf_rows([{"magpsf": 18.0}, {"magpsf": 20.0}]), [Reads(), Brightness()])
    assert out["test_dim"].to_pylist() == [False, True]


def test_a_cycle_and_a_required_input_nobody_produces_are_refused() -> None:
    class Loop(Reads):
        name = "test_loop"
        inputs = ("test_dim",)
        outputs = (Output("test_bright2", pa.bool_(), "x"),)

    class Loop2(Reads):
        name = "test_loop2"
        inputs = ("test_bright2",)

    with pytest.raises(ScienceError, match="cycle"):
        dependency_order([Loop(), Loop2()])
    with pytest.raises(ScienceError, match="test_reads needs test_bright"):
        run_modules(ztf_rows([{"magpsf": 18.0}]), [Reads()])
    with pytest.raises(ScienceError, match="needs test_bright"):
        enrich.check_inputs([Reads()], "ztf")


def test_decoded_silver_rows_carry_every_module_output_and_version(extra_modules: None) -> None:
    from siskin.silver.transform import decode_bronze, survey_silver_schema

    settings = Settings(science={"modules": ["roid", "nalerthist", "test_reads", "test_brightness"]})
    silver = decode_bronze(_bronze(40), settings)["silver.alerts"]
    assert silver.num_rows == 40
    assert silver.schema == survey_silver_schema("ztf")
    bright = silver.column("test_bright").to_pylist()
    assert bright == [m < 19.0 for m in silver.column("magpsf").to_pylist()]
    assert silver.column("test_dim").to_pylist() == [not b for b in bright]
    assert set(silver.column("test_reads_version").to_pylist()) == {"2.0"}
    assert silver.column("nalerthist").null_count == 0 and min(silver.column("nalerthist").to_pylist()) >= 1
    assert set(silver.column("roid").to_pylist()) <= {0, 1, 2, 3}
    # a module not enabled leaves its columns null
    assert silver.column("test_never").null_count == 40
    assert silver.column("test_broken_version").null_count == 40


def test_a_module_that_raises_leaves_its_columns_null_and_the_batch_goes_on(
    extra_modules: None, caplog: pytest.LogCaptureFixture
) -> None:
    from siskin.silver.transform import decode_bronze

    settings = Settings(science={"modules": ["test_broken", "test_brightness"]})
    silver = decode_bronze(_bronze(10), settings)["silver.alerts"]
    assert silver.num_rows == 10
    assert silver.column("test_never").null_count == 10
    assert silver.column("test_broken_version").null_count == 10  # the rows say they were not scored
    assert silver.column("test_bright").null_count == 0
    assert "test_broken 0.1 failed" in caplog.text and "model file is corrupt" in caplog.text


def test_an_older_table_gains_the_columns_a_new_module_declares(tmp_path: pytest.TempPathFactory) -> None:
    from deltalake import DeltaTable

    from siskin.lake.transactions import add_missing_columns, ensure_table

    uri = str(tmp_path / "t")
    old = pa.schema([pa.field("candid", pa.int64()), pa.field("night", pa.int32())])
    ensure_table(uri, old, ["night"])
    new = old.append(pa.field("anomaly_score", pa.float64())).append(pa.field("anomaly_version", pa.string()))
    assert add_missing_columns(uri, new) == ["anomaly_score", "anomaly_version"]
    names = DeltaTable(uri).schema().to_arrow().names
    assert names == ["candid", "night", "anomaly_score", "anomaly_version"]
    assert add_missing_columns(uri, new) == []


def test_a_tasks_small_bronze_files_are_decoded_together_with_the_same_rows(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bronze files are one per Kafka partition and batch (a dozen alerts at low rates): the silver task
    decodes and scores them in one call, not one per file, and the rows are those of file-by-file."""
    import siskin.silver.transform as transform
    from siskin.lake.catalog import BRONZE_SCHEMA
    from siskin.lake.delta_source import DataFile, file_refs_batch
    from siskin.lake.parquet_files import write_data_files

    settings = Settings().model_copy(update={"lake": str(tmp_path / "lake")})
    bronze = transform.as_bronze(_bronze(30))
    uri = str(tmp_path / "bronze")
    files = [
        DataFile(add.path, add.partition_values, add.rows)
        for lo in range(0, 30, 6)
        for add in write_data_files(bronze.slice(lo, 6), uri, ("night",))
    ]
    assert len(files) == 5
    calls: list[int] = []
    real = transform.decode_bronze
    monkeypatch.setattr(
        transform, "decode_bronze", lambda rows, s: calls.append(rows.num_rows) or real(rows, s)
    )
    together = transform.silver_transform(settings, uri)(pa.Table.from_batches([file_refs_batch(files)]))
    assert calls == [30]
    one_by_one = [real(transform.as_bronze(bronze.slice(lo, 6)), settings) for lo in range(0, 30, 6)]
    expected = pa.concat_tables([p["silver.alerts"] for p in one_by_one])
    got = together["silver.alerts"]
    assert got.column("candid").to_pylist() == expected.column("candid").to_pylist()
    stable = [n for n in got.column_names if n != "processed_at"]  # the decode's clock
    differ = [n for n in stable if not _same(got.column(n).to_pylist(), expected.column(n).to_pylist())]
    assert differ == []
    assert BRONZE_SCHEMA.names == bronze.column_names
    assert got.num_rows == 30 and "lc_features_g" in stable


def _same(a: object, b: object) -> bool:
    """Equal values, NaN equal to NaN (light-curve features of short curves are NaN)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b
