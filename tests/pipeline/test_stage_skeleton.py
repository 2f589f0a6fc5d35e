"""The stage skeleton: a replayed batch is a no-op, and a crash after its commit still yields its ops row."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from siskin.config import Settings


def _bronze_refs(house, spark):  # noqa: ANN001, ANN202
    from siskin.lake.delta_source import DataFile, file_refs_batch

    actions = pa.table(DeltaTable(house.path("bronze.alerts")).get_add_actions(flatten=True)).to_pylist()
    files = [DataFile(a["path"], {"night": str(a["partition.night"])}, a["num_records"]) for a in actions]
    return spark.createDataFrame(pa.Table.from_batches([file_refs_batch(files)]))


def test_a_batch_committed_before_a_crash_gets_its_ops_row_on_replay(
    spark_session, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.silver.batch import SilverStage

    house = Lakehouse(Settings(lake=str(tmp_path / "lake")), spark_session)
    house.ensure_tables()
    inputs = shared_data / "ztf" / "alerts" / "fink-client-multi-2021-11-22"
    house.start_bronze_files([str(inputs)], available_now=True).awaitTermination()
    refs = _bronze_refs(house, spark_session)

    def crash(*_: object, **__: object) -> None:
        raise RuntimeError("killed between the commit and the ops row")

    monkeypatch.setattr("siskin.pipeline.stage.record_batch", crash)
    with pytest.raises(RuntimeError, match="killed"):
        SilverStage(house.settings, "test-app", query="silver")(refs, 0)
    monkeypatch.undo()
    silver_rows = DeltaTable(house.path("silver.alerts")).to_pyarrow_table(columns=["candid"]).num_rows
    assert silver_rows == 110
    assert "silver" not in set(DeltaTable(house.path("ops.batches")).to_pandas()["query"])

    for _ in range(2):  # Spark replays the batch after the restart (twice here: still one row)
        SilverStage(house.settings, "test-app", query="silver")(refs, 0)
    after = DeltaTable(house.path("silver.alerts")).to_pyarrow_table(columns=["candid"])
    assert after.num_rows == silver_rows
    ops = DeltaTable(house.path("ops.batches")).to_pandas()
    ops = ops[ops["query"] == "silver"]
    assert len(ops) == 1
    row = ops.iloc[0]
    assert (row["query"], row["app_id"], row["batch_id"]) == ("silver", "test-app", 0)
    assert row["output_rows"] == silver_rows and row["input_rows"] == silver_rows + row["duplicates"]
