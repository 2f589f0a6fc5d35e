"""Contract of the Delta connector, run against every engine: exactly-once appends, version offsets."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from siskin.lake.engine import ENGINES, get_engine
from siskin.lake.parquet_files import write_data_files
from siskin.lake.transactions import commit_files


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest, spark_session):  # noqa: ANN001
    eng = get_engine(request.param)
    ok, why = eng.available(spark_session)
    if not ok:
        pytest.skip(f"engine {request.param} unavailable here: {why}")
    return eng


def _frame(spark, start: int, n: int):  # noqa: ANN001, ANN202
    return spark.range(start, start + n).selectExpr(
        "id", "cast(id % 3 as int) as night", "repeat('x', 50) as payload"
    )


def test_batch_append_is_idempotent_per_app_version(engine, spark_session, tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    df = _frame(spark_session, 0, 100)
    engine.append(df, uri, partition_by=("night",), app_id="app-a", version=0)
    engine.append(df, uri, partition_by=("night",), app_id="app-a", version=0)  # a replayed batch
    engine.append(_frame(spark_session, 100, 50), uri, partition_by=("night",), app_id="app-a", version=1)
    assert engine.read(spark_session, uri).count() == 150
    assert DeltaTable(uri).transaction_version("app-a") == 1


def test_a_new_app_id_is_not_skipped(engine, spark_session, tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    engine.append(_frame(spark_session, 0, 10), uri, partition_by=("night",), app_id="old", version=5)
    engine.append(_frame(spark_session, 10, 10), uri, partition_by=("night",), app_id="new", version=0)
    assert engine.read(spark_session, uri).count() == 20


def test_stream_reads_each_commit_once_and_resumes(engine, spark_session, tmp_path: Path) -> None:
    uri, ckpt = str(tmp_path / "t"), str(tmp_path / "ckpt")
    for v in range(3):
        engine.append(_frame(spark_session, v * 10, 10), uri, partition_by=("night",), app_id="w", version=v)
    seen: list[int] = []

    def collect(df, batch_id):  # noqa: ANN001
        seen.extend(r.id for r in df.select("id").collect())

    def run_once() -> None:
        q = (
            engine.read_stream(spark_session, uri, max_files=2)
            .writeStream.foreachBatch(collect)
            .option("checkpointLocation", ckpt)
            .trigger(availableNow=True)
            .start()
        )
        q.awaitTermination()

    run_once()
    assert sorted(seen) == list(range(30))
    engine.append(_frame(spark_session, 30, 5), uri, partition_by=("night",), app_id="w", version=3)
    run_once()
    assert sorted(seen) == list(range(35))


def test_stream_sink_commits_once_per_batch_with_checkpoint_app_id(
    engine, spark_session, tmp_path: Path
) -> None:
    from siskin.lake.checkpoints import checkpoint_app_id

    src, dst, ckpt = str(tmp_path / "src"), str(tmp_path / "dst"), str(tmp_path / "ckpt")
    engine.append(_frame(spark_session, 0, 40), src, partition_by=("night",), app_id="w", version=0)
    app = checkpoint_app_id(ckpt, "copy")
    assert checkpoint_app_id(ckpt, "copy") == app  # stable for one checkpoint
    assert checkpoint_app_id(str(tmp_path / "other"), "copy") != app  # a reset checkpoint gets a new id
    q = (
        engine.write_stream(
            engine.read_stream(spark_session, src, max_files=100),
            dst,
            partition_by=("night",),
            checkpoint=ckpt,
            app_id=app,
        )
        .trigger(availableNow=True)
        .start()
    )
    q.awaitTermination()
    assert engine.read(spark_session, dst).count() == 40
    assert DeltaTable(dst).transaction_version(app) == 0


def test_replay_commits_are_skipped_when_asked(tmp_path: Path) -> None:
    from siskin.lake.delta_source import data_files_of, read_commit

    uri = str(tmp_path / "t")
    table = pa.table({"a": [1, 2], "night": pa.array([1, 2], pa.int32())})
    commit_files(
        uri, write_data_files(table, uri, ("night",)), table.schema, ["night"], app_id="x", version=0
    )
    commit_files(
        uri,
        write_data_files(table, uri, ("night",)),
        table.schema,
        ["night"],
        app_id="r",
        version=0,
        metadata={"siskin.replay": "true"},
    )
    assert len(data_files_of(read_commit(uri, 2), skip_replay=True)) == 0
    assert len(data_files_of(read_commit(uri, 2), skip_replay=False)) == 2
    assert len(data_files_of(read_commit(uri, 1), skip_replay=True)) == 2


def test_file_stats_carry_min_max_for_data_skipping(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    table = pa.table({"candid": pa.array([5, 1, 9], pa.int64()), "night": pa.array([1, 1, 1], pa.int32())})
    files = write_data_files(table, uri, ("night",))
    commit_files(uri, files, table.schema, ["night"], app_id=None, version=None)
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pylist()[0]
    assert actions["num_records"] == 3
    assert actions["min.candid"] == 1 and actions["max.candid"] == 9


def test_file_reference_stream_covers_every_row_once(engine, spark_session, tmp_path: Path) -> None:
    """Stages that read data files in their own tasks get each committed file exactly once."""
    from siskin.lake.delta_source import read_file_refs

    uri, ckpt = str(tmp_path / "t"), str(tmp_path / "ckpt")
    for v in range(3):
        engine.append(_frame(spark_session, v * 10, 10), uri, partition_by=("night",), app_id="w", version=v)
    batches: list = []
    q = (
        engine.read_stream_files(spark_session, uri, max_files=2)
        .writeStream.foreachBatch(lambda df, _: batches.append(df.toArrow()))
        .option("checkpointLocation", ckpt)
        .trigger(availableNow=True)
        .start()
    )
    q.awaitTermination()
    ids: list[int] = []
    for refs in batches:
        if "path" in refs.column_names:  # delta-rs: file references
            for table in read_file_refs(uri, refs):
                assert set(table.column("night").to_pylist()) <= {"0", "1", "2"}
                ids += table.column("id").to_pylist()
        else:  # an engine that streams rows
            ids += refs.column("id").to_pylist()
    assert sorted(ids) == list(range(30))
