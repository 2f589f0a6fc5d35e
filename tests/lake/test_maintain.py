"""`siskin maintain`: fewer files, the same rows, while writers commit; VACUUM honours the retention."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.errors import ConfigurationError
from siskin.gold.inputs import GOLD_INPUT_SCHEMA
from siskin.gold.merge import upsert_alerts
from siskin.gold.objects import aggregate_alerts
from siskin.lake.catalog import table, tables
from siskin.lake.maintain import maintain
from siskin.lake.parquet_files import write_data_files
from siskin.lake.transactions import commit_files
from siskin.ops.batches import BatchReport, record_batch

NIGHTS = (20261120, 20261121)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    tables()  # the catalog, loaded before any writer thread
    return Settings(lake=str(tmp_path / "lake"))


def _silver_batch(settings: Settings, batch: int, night: int, n: int = 50) -> list[int]:
    """One silver micro-batch's commit (the columns maintenance and readers use)."""
    spec = table("silver.alerts")
    uri = spec.path(settings.lake_uri)
    candids = list(range(batch * 1000, batch * 1000 + n))
    rng = np.random.default_rng(batch)
    rows = pa.table(
        {
            "objectId": [f"ZTF26{rng.integers(0, 10**6):07d}" for _ in candids],
            "candid": pa.array(candids, pa.int64()),
            "night": pa.array([night] * n, pa.int32()),
        }
    )
    files = write_data_files(rows, uri, ("night",))
    commit_files(uri, files, spec.arrow_schema(), spec.partition_by, app_id="silver", version=batch)
    return candids


def _gold_alerts(batch: int, n: int = 60, recur: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(100 + batch)
    # a field's objects: many recur, some are new (or, recur=False, all new: each batch adds files)
    ids = rng.choice(200, n, replace=False) if recur else np.arange(n) + batch * n
    frame = pd.DataFrame(
        {
            "survey": "ztf",
            "objectId": [f"G{i:04d}" for i in ids],
            "candid": np.arange(n, dtype=np.int64) + batch * 1000,
            "jd": 2461000.5 + batch,
            "band": "g",
            "mag": rng.uniform(17, 20, n),
            "magerr": 0.05,
            "ra": 150.0 + (ids % 20) * 0.1,
            "dec": -30.0 + (ids // 20) * 0.1,
            "rb": 0.9,
            "quality_ok": True,
            "night": np.int32(NIGHTS[0]),
        }
    )
    return pa.Table.from_pandas(
        frame.reindex(columns=GOLD_INPUT_SCHEMA.names), schema=GOLD_INPUT_SCHEMA, preserve_index=False
    ).to_pandas()


def _gold_batch(settings: Settings, batch: int, recur: bool = True) -> pd.DataFrame:
    alerts = _gold_alerts(batch, recur=recur)
    upsert_alerts(
        table("gold.objects").path(settings.lake_uri), alerts, buckets=32, app_id="gold", version=batch
    )
    return alerts


def _live_files(settings: Settings, name: str) -> int:
    return len(DeltaTable(table(name).path(settings.lake_uri)).file_uris())


def _check_gold(settings: Settings, sent: list[pd.DataFrame]) -> None:
    gold = DeltaTable(table("gold.objects").path(settings.lake_uri)).to_pandas()
    assert not gold.duplicated(["survey", "objectId"]).any()
    expected = aggregate_alerts(pd.concat(sent, ignore_index=True), 32).set_index("objectId")["n_alerts"]
    assert gold.set_index("objectId")["n_alerts"].sort_index().equals(expected.sort_index())


def test_maintain_compacts_orders_and_keeps_every_row(settings: Settings) -> None:
    candids = [c for b in range(8) for c in _silver_batch(settings, b, NIGHTS[b % 2])]
    sent = [_gold_batch(settings, b, recur=False) for b in range(6)]
    silver_uri = table("silver.alerts").path(settings.lake_uri)
    files_before = {n: _live_files(settings, n) for n in ("silver.alerts", "gold.objects")}

    first = maintain(settings, names=["silver.alerts"], night=NIGHTS[0], do_vacuum=False)
    assert first[0].partitions_rewritten == 1 and first[0].ordered_by == ["objectId"]
    by_night = pd.Series(DeltaTable(silver_uri).file_uris()).str.contains(f"night={NIGHTS[0]}").value_counts()
    assert by_night[True] == 1 and by_night[False] == 4  # only the asked night was rewritten

    reports = {r.table: r for r in maintain(settings, do_vacuum=False)}
    assert reports["silver.alerts"].files_after == 2 < files_before["silver.alerts"]
    assert reports["gold.objects"].files_after < files_before["gold.objects"]
    assert reports["gold.objects"].ordered_by == ["survey", "objectId"]
    silver = DeltaTable(silver_uri).to_pandas(columns=["candid"])
    assert sorted(silver["candid"]) == sorted(candids)
    for uri in DeltaTable(silver_uri).file_uris():  # an object's alerts share files: sorted by objectId
        ids = pq.read_table(uri, columns=["objectId"]).column("objectId").to_pylist()
        assert ids == sorted(ids)
    _check_gold(settings, sent)
    config = DeltaTable(silver_uri).metadata().configuration
    assert config["delta.checkpointInterval"] == "100"
    assert (
        maintain(settings, names=["silver.alerts"], do_vacuum=False)[0].partitions_rewritten == 0
    )  # idempotent


def test_vacuum_deletes_only_files_older_than_the_retention(settings: Settings) -> None:
    for b in range(4):
        _silver_batch(settings, b, NIGHTS[0])
    uri = table("silver.alerts").path(settings.lake_uri)
    folder = Path(uri) / f"night={NIGHTS[0]}"
    rows = pa.table({"candid": pa.array([999_999], pa.int64()), "night": pa.array([NIGHTS[0]], pa.int32())})
    in_flight = write_data_files(rows, uri, ("night",))  # a running batch's file, not committed yet
    reports = maintain(settings, names=["silver.alerts"])  # default retention: 168 h
    assert reports[0].files_after == 1 and reports[0].vacuumed_files == 0
    assert len(list(folder.glob("*.parquet"))) == 6  # 4 replaced + 1 compacted + 1 in flight
    with pytest.raises(ConfigurationError, match="retention"):
        maintain(settings, names=["silver.alerts"], retention_hours=0.5)
    reports = maintain(settings, names=["silver.alerts"], retention_hours=0, force=True)  # no writer runs
    assert reports[0].vacuumed_files == 5  # the replaced files, and the orphan once it is old enough
    assert not (folder / in_flight[0].path.split("/")[-1]).exists()
    assert DeltaTable(uri).to_pandas(columns=["candid"])["candid"].nunique() == 200


def test_maintain_while_writers_commit_changes_no_row(settings: Settings) -> None:
    """Silver appends, gold MERGEs and ops rows go on while maintenance compacts the same tables."""
    done = threading.Event()
    candids: list[int] = []
    sent: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for b in range(16):
                candids.extend(_silver_batch(settings, b, NIGHTS[b % 2]))
                sent.append(_gold_batch(settings, b))
                report = BatchReport("gold", "gold", b, datetime.now(UTC), input_rows=60, output_rows=60)
                record_batch(settings, report)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    rounds, rewritten = 0, 0
    while not done.is_set():
        reports = maintain(settings, names=["silver.alerts", "gold.objects", "ops.batches"])
        rewritten += sum(r.partitions_rewritten for r in reports)
        rounds += 1
        time.sleep(0.05)
    thread.join()
    assert not errors, errors
    assert rounds >= 2 and rewritten > 0  # maintenance really ran alongside the writers
    before = {n: _live_files(settings, n) for n in ("silver.alerts", "gold.objects")}
    maintain(settings, names=["silver.alerts", "gold.objects", "ops.batches"])
    after = {n: _live_files(settings, n) for n in ("silver.alerts", "gold.objects")}
    assert after["silver.alerts"] == 2 and after["gold.objects"] <= before["gold.objects"]

    silver = DeltaTable(table("silver.alerts").path(settings.lake_uri)).to_pandas(columns=["candid"])
    assert sorted(silver["candid"]) == sorted(candids)  # every row once
    _check_gold(settings, sent)
    ops = DeltaTable(table("ops.batches").path(settings.lake_uri)).to_pandas()
    assert sorted(ops["batch_id"]) == list(range(16))


def test_maintain_drops_log_entries_past_the_log_retention(settings: Settings) -> None:
    import os

    from siskin.lake.transactions import ensure_table

    spec = table("silver.alerts")
    uri = spec.path(settings.lake_uri)
    ensure_table(uri, spec.arrow_schema(), spec.partition_by, configuration={"delta.checkpointInterval": "5"})
    for b in range(12):
        _silver_batch(settings, b, NIGHTS[0], n=5)
    log = Path(uri) / "_delta_log"
    old = time.time() - 10 * 86400  # ten days ago: past the 7-day log retention
    for name in os.listdir(log):
        if name[:20].isdigit() and int(name[:20]) <= 5:  # versions 0-5, with the checkpoint at 4
            os.utime(log / name, (old, old))
    maintain(settings, names=["silver.alerts"], do_vacuum=False)
    versions = {int(n[:20]) for n in os.listdir(log) if n.endswith(".json")}
    assert min(versions) == 4 and "00000000000000000004.checkpoint.parquet" in os.listdir(log)
    delta = DeltaTable(uri)
    assert delta.transaction_version("silver") == 11 and len(delta.to_pandas(columns=["candid"])) == 60
