"""Per-batch metadata costs stay flat: tables stay open and learn new versions incrementally."""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from siskin.lake.delta_source import DeltaStreamReader
from siskin.lake.parquet_files import write_data_files
from siskin.lake.transactions import already_committed, commit_files, current_table, ensure_table

SCHEMA = pa.schema([pa.field("v", pa.int64()), pa.field("night", pa.int32())])


def _commit(uri: str, app: str, version: int) -> None:
    rows = pa.table({"v": [version], "night": pa.array([1], pa.int32())}, schema=SCHEMA)
    commit_files(
        uri, write_data_files(rows, uri, ("night",)), SCHEMA, ("night",), app_id=app, version=version
    )


def _in_other_thread(fn, *args) -> None:  # noqa: ANN001
    worker = threading.Thread(target=fn, args=args)
    worker.start()
    worker.join()


def test_the_open_table_sees_commits_made_elsewhere(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    _commit(uri, "a", 0)
    mine = current_table(uri)
    assert mine is not None and current_table(uri) is mine  # one open copy per thread, reused
    assert not already_committed(uri, "b", 0)
    _in_other_thread(_commit, uri, "b", 0)  # another writer (its own thread, its own open copy)
    assert already_committed(uri, "b", 0) and not already_committed(uri, "b", 1)
    assert current_table(uri) is mine and mine.version() == 2
    _commit(uri, "a", 0)  # a replayed batch: skipped, no new version
    assert DeltaTable(uri).version() == 2


def test_the_log_is_checkpointed_every_interval(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    ensure_table(uri, SCHEMA, ("night",), configuration={"delta.checkpointInterval": "5"})
    for v in range(12):
        _commit(uri, "a", v)
    names = os.listdir(f"{uri}/_delta_log")
    checkpoints = sorted(n for n in names if n.endswith(".checkpoint.parquet"))
    assert checkpoints == [
        "00000000000000000004.checkpoint.parquet",
        "00000000000000000009.checkpoint.parquet",
    ]
    assert DeltaTable(uri).transaction_version("a") == 11  # app transactions survive the checkpoint


def test_the_stream_reader_follows_new_versions_and_pickles_without_its_table(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    _commit(uri, "a", 0)
    reader = DeltaStreamReader({"path": uri, "filesOnly": "true"}, None)  # type: ignore[arg-type]
    assert reader.latestOffset({"version": -1}, reader.getDefaultReadLimit()) == {"version": 1}
    opened = reader._table
    for v in (1, 2):
        _in_other_thread(_commit, uri, "b", v)
    assert reader.latestOffset({"version": 1}, reader.getDefaultReadLimit()) == {"version": 3}
    assert reader._table is opened  # not reloaded: only the two new commits were read
    shipped = pickle.loads(pickle.dumps(reader))  # what Spark sends to the tasks
    assert shipped._table is None and shipped.path == uri
    assert [len(p.files) for p in reader.partitions({"version": 1}, {"version": 3})] == [2]


def test_an_unchanged_table_is_not_reread_and_a_recreated_one_is(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """No new log entry: no `update_incremental` (two stats); a table deleted and recreated is reloaded."""
    import shutil

    uri = str(tmp_path / "t")
    for v in range(3):
        _commit(uri, "a", v)
    mine = current_table(uri)
    assert mine is not None and mine.version() == 3  # the create, then three appends
    calls: list[int] = []
    real = DeltaTable.update_incremental
    monkeypatch.setattr(DeltaTable, "update_incremental", lambda self: calls.append(1) or real(self))
    assert current_table(uri) is mine and calls == []  # nothing new: the copy is current
    _in_other_thread(_commit, uri, "b", 0)
    assert current_table(uri) is mine and mine.version() == 4 and calls == [1]
    shutil.rmtree(uri)  # replaced underneath by a younger table: version 4 no longer exists
    _commit(uri, "c", 0)
    fresh = current_table(uri)
    assert fresh is not None and fresh.version() == 1
    assert already_committed(uri, "c", 0) and not already_committed(uri, "a", 0)
