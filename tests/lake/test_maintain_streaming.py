"""`siskin maintain` while the bronze, silver and gold streams run: no row lost, doubled or read twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from siskin.config import Settings

pytestmark = pytest.mark.slow

NIGHT = 20261125


def streamed_files(uri: str) -> int:
    """Data files the streams committed over the table's history (compaction's own files not counted)."""
    from siskin.lake.delta_source import read_commit

    adds = 0
    for version in range(DeltaTable(uri).version() + 1):
        adds += sum(1 for a in read_commit(uri, version) if "add" in a and a["add"].get("dataChange", True))
    return adds


def test_maintain_during_streaming_keeps_every_row_once_and_drops_files(
    spark_session, tmp_path: Path
) -> None:
    from siskin.lake.maintain import maintain
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import stop_all
    from siskin.simulate.run import write_to_dir
    from siskin.simulate.ztf import simulate_night_records

    landing = tmp_path / "landing"
    landing.mkdir()
    lake = tmp_path / "lake"
    settings = Settings(
        lake=lake, stream={"trigger_seconds": 0.5, "gold_trigger_seconds": 0.5, "watch_stable_seconds": 0.2}
    )
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    records = list(simulate_night_records(NIGHT, n_alerts=240, seed=17))
    candids = {c for c, _ in records}

    def count(name: str, column: str) -> int:
        return DeltaTable(house.path(name)).to_pyarrow_table(columns=[column]).num_rows

    def gold_alerts() -> int:
        gold = DeltaTable(house.path("gold.objects")).to_pyarrow_table(columns=["n_alerts"])
        return int(sum(gold.column("n_alerts").to_pylist()))

    queries = [house.start_bronze_files([str(landing)]), house.start_silver(), house.start_gold()]
    rounds = []
    try:
        for k in range(6):  # alerts keep landing in small chunks: many small files per night
            write_to_dir(records[k * 40 : (k + 1) * 40], landing, night=NIGHT)
            time.sleep(1.0)
            rounds.append(maintain(settings, do_vacuum=True))  # default retention: nothing in use goes
        deadline = time.monotonic() + 300
        while gold_alerts() < len(candids) and time.monotonic() < deadline:
            rounds.append(maintain(settings, do_vacuum=False))
            time.sleep(0.5)
        assert all(q.isActive for q in queries), [q.exception() for q in queries]
    finally:
        stop_all(queries)

    rewritten = sum(r.partitions_rewritten for reports in rounds for r in reports)
    assert rewritten > 0  # compaction really committed while the streams ran
    maintain(settings)
    for name in ("bronze.alerts", "silver.alerts", "gold.objects"):
        written = streamed_files(house.path(name))
        live = len(DeltaTable(house.path(name)).file_uris())
        assert live < written, (name, live, written)  # compaction replaced the streams' small files

    assert count("bronze.alerts", "night") == len(candids)
    silver = DeltaTable(house.path("silver.alerts")).to_pandas(columns=["candid"])
    assert sorted(silver["candid"]) == sorted(candids)  # each alert once
    gold = DeltaTable(house.path("gold.objects")).to_pandas(columns=["survey", "objectId", "n_alerts"])
    assert not gold.duplicated(["survey", "objectId"]).any()
    assert int(gold["n_alerts"].sum()) == len(candids)  # no compacted silver file was folded in twice
    ops = DeltaTable(house.path("ops.batches")).to_pandas()
    assert not ops.duplicated(["app_id", "batch_id"]).any()
    silver_ops = ops[(ops["query"] == "silver") & ~ops["replay"]]
    assert int(silver_ops["input_rows"].sum()) == len(candids)  # no compacted bronze file was re-read
