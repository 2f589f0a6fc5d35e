"""`siskin replay --night` leaves every table as a fresh ingest of the same inputs would, crash or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from lake_compare import assert_same_lakes

from siskin.config import Settings


def _inputs(shared_data: Path) -> list[str]:
    lsst = shared_data / "lsst"
    return [
        str(shared_data / "ztf" / "alerts"),
        str(lsst / "fink-broker" / "rubin_test_data_9_0_avro"),
        str(lsst / "fink-client" / "part-2-918301.avro"),
    ]


def _build(spark, lake: Path, inputs: list[str]):  # noqa: ANN001, ANN202
    from siskin.pipeline.lakehouse import Lakehouse

    house = Lakehouse(Settings(lake=str(lake)), spark)
    house.ensure_tables()
    house.start_bronze_files(inputs, available_now=True).awaitTermination()
    house.run_downstream_available_now()
    house.release()
    return house


@pytest.fixture(scope="module")
def lakes(spark_session, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("replay")
    inputs = _inputs(shared_data)
    replayed = _build(spark_session, root / "replayed", inputs)
    fresh = _build(spark_session, root / "fresh", inputs)
    return replayed, fresh


def _busiest_night(lake: str, table: str) -> int:
    nights = (
        DeltaTable(f"{lake}/{table.replace('.', '/')}").to_pyarrow_table(columns=["night"]).column("night")
    )
    counts = pc.value_counts(nights).to_pylist()
    return int(max(counts, key=lambda c: c["counts"])["values"])


def test_replayed_ztf_and_rubin_nights_equal_a_fresh_ingest(lakes) -> None:  # noqa: ANN001
    from siskin.ops.replay import replay_night

    replayed, fresh = lakes
    lake = replayed.settings.lake_uri
    ztf_night = _busiest_night(lake, "silver.alerts")
    rubin_night = _busiest_night(lake, "silver.rubin_alerts")
    cutouts_before = DeltaTable(f"{lake}/silver/cutouts").to_pyarrow_table(columns=["candid"]).num_rows
    for night in (ztf_night, rubin_night):
        report = replay_night(replayed, night)
        assert report.silver_after == report.silver_before > 0
    replayed.release()
    counts = assert_same_lakes(lake, fresh.settings.lake_uri)
    assert counts["silver.cutouts"] == cutouts_before  # the Rubin night keeps its cutouts
    assert counts["silver.rubin_alerts"] > 0 and counts["gold.objects"] > 0


def test_gold_counts_every_alert_once_after_replay(lakes) -> None:  # noqa: ANN001
    replayed, _ = lakes
    lake = replayed.settings.lake_uri
    gold = DeltaTable(f"{lake}/gold/objects").to_pandas(columns=["survey", "n_alerts"])
    ztf = DeltaTable(f"{lake}/silver/alerts").to_pyarrow_table(columns=["candid"]).num_rows
    rubin = DeltaTable(f"{lake}/silver/rubin_alerts").to_pyarrow_table(columns=["diaObjectId"])
    associated = rubin.num_rows - rubin.column("diaObjectId").null_count
    assert int(gold.loc[gold["survey"] == "ztf", "n_alerts"].sum()) == ztf
    assert int(gold.loc[gold["survey"] == "rubin", "n_alerts"].sum()) == associated


def test_replay_refuses_while_a_stream_holds_the_lease(lakes, tmp_path: Path) -> None:  # noqa: ANN001
    from siskin.errors import LeaseHeldError
    from siskin.ops.lease import acquire

    replayed, _ = lakes
    lake = replayed.settings.lake_uri
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from siskin.ops.lease import acquire; "
            f"acquire({lake!r}, ['silver'], 'silver stream (test)'); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeldError, match=rf"silver stream \(test\).*pid {holder.pid}"):
            acquire(lake, ["gold", "silver"], "siskin replay --night 1")
        with pytest.raises(LeaseHeldError):  # nothing half-taken: gold was released again
            acquire(lake, ["silver"], "another")
    finally:
        holder.kill()
        holder.wait()
    leases = acquire(lake, ["silver", "gold"], "after the holder died")  # a dead holder's lease is taken over
    for lease in leases:
        lease.release()


@pytest.mark.slow
def test_a_replay_killed_midway_completes_when_rerun(lakes) -> None:  # noqa: ANN001
    from siskin.errors import LeaseHeldError
    from siskin.ops.replay import unfinished_replays

    replayed, fresh = lakes
    lake = replayed.settings.lake_uri
    night = _busiest_night(lake, "silver.alerts")
    silver = f"{lake}/silver/alerts"
    version = DeltaTable(silver).version()
    cmd = [sys.executable, "-m", "siskin.cli.main", "--lake", lake, "replay", "--night", str(night)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    killed_after_delete = False
    while time.monotonic() < deadline and proc.poll() is None:
        if DeltaTable(silver).version() > version:  # the night's delete has committed; the rewrite has not
            os.killpg(proc.pid, signal.SIGKILL)
            killed_after_delete = True
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_after_delete, "the replay finished before it could be killed"
    assert unfinished_replays(lake) == [night]
    night_rows = DeltaTable(silver).to_pyarrow_dataset().count_rows(filter=pc.field("night") == night)
    assert night_rows == 0  # the crash left the night deleted...
    with pytest.raises(LeaseHeldError, match="did not finish"):  # ...and the streams will not start over it
        replayed.start_silver(available_now=True)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert unfinished_replays(lake) == []
    assert_same_lakes(lake, fresh.settings.lake_uri)


def test_replaying_a_night_bronze_does_not_hold_is_an_error(lakes) -> None:  # noqa: ANN001
    from siskin.errors import SiskinError
    from siskin.ops.replay import replay_night

    replayed, _ = lakes
    with pytest.raises(SiskinError, match="no input for night 19000101"):
        replay_night(replayed, 19000101)
