"""Archive ingest: Avro files, folders and ZTF-style nightly tarballs, as a batch and as a watched folder."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from siskin.config import Settings

NIGHT = 20261123


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from siskin.simulate.run import write_tarball, write_to_dir
    from siskin.simulate.ztf import simulate_night_records

    root = tmp_path_factory.mktemp("archive")
    records = list(simulate_night_records(NIGHT, n_alerts=120, seed=5))
    tarball = root / f"ztf_public_{NIGHT}.tar.gz"
    write_tarball(records[:80], tarball, night=NIGHT)
    loose = root / "loose"
    write_to_dir(records[80:], loose, night=NIGHT)
    return {"tarball": tarball, "loose": loose, "candids": {c for c, _ in records}}


def _silver_candids(lake: Path) -> list[int]:
    return (
        DeltaTable(str(lake / "silver" / "alerts"))
        .to_pyarrow_table(columns=["candid"])
        .column("candid")
        .to_pylist()
    )


def test_tarball_and_folder_land_in_every_layer_once(spark_session, simulated, tmp_path: Path) -> None:
    from siskin.pipeline.lakehouse import Lakehouse

    lake = tmp_path / "lake"
    house = Lakehouse(Settings(lake=lake), spark_session)
    house.ensure_tables()
    paths = [str(simulated["tarball"]), str(simulated["loose"])]
    house.start_bronze_files(paths, available_now=True).awaitTermination()
    house.run_downstream_available_now()
    bronze = DeltaTable(str(lake / "bronze" / "alerts")).to_pandas(
        columns=["file_path", "file_member", "night"]
    )
    assert len(bronze) == 120
    members = bronze[bronze["file_path"] == str(simulated["tarball"])]["file_member"]
    assert len(members) == 80 and members.str.endswith(".avro").all()
    assert set(bronze["night"]) == {NIGHT}
    assert sorted(_silver_candids(lake)) == sorted(simulated["candids"])

    # the same paths again: the checkpoint's manifest knows every file, nothing is re-ingested
    house.start_bronze_files(paths, available_now=True).awaitTermination()
    house.run_downstream_available_now()
    assert len(DeltaTable(str(lake / "bronze" / "alerts")).to_pyarrow_table(columns=["night"])) == 120
    assert len(_silver_candids(lake)) == 120


def test_watched_landing_folder_picks_up_new_files(spark_session, tmp_path: Path) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import stop_all
    from siskin.simulate.run import write_to_dir
    from siskin.simulate.ztf import simulate_night_records

    landing = tmp_path / "landing"
    landing.mkdir()
    lake = tmp_path / "lake"
    house = Lakehouse(Settings(lake=lake, stream={"trigger_seconds": 0.5}), spark_session)
    house.ensure_tables()
    records = list(simulate_night_records(NIGHT + 1, n_alerts=30, seed=9))
    write_to_dir(records[:10], landing, night=NIGHT + 1)
    query = house.start_bronze_files([str(landing)])
    try:
        bronze = lake / "bronze" / "alerts"

        def rows() -> int:
            return DeltaTable(str(bronze)).to_pyarrow_table(columns=["night"]).num_rows

        deadline = time.monotonic() + 120
        while rows() < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert rows() == 10
        write_to_dir(records[10:], landing, night=NIGHT + 1)  # files arriving later
        deadline = time.monotonic() + 120
        while rows() < 30 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert rows() == 30
        assert query.isActive
    finally:
        stop_all([query])


def test_a_truncated_tarball_in_a_batch_run_is_one_reject_and_the_rest_lands(
    spark_session, simulated, tmp_path: Path
) -> None:
    """The members before the cut land; the archive gets one `corrupt_archive` row; the run ends cleanly."""
    import tarfile

    from siskin.pipeline.lakehouse import Lakehouse

    good = Path(simulated["tarball"])
    cut = tmp_path / "in" / "cut_in_half.tar.gz"
    cut.parent.mkdir()
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "in" / "copying.tar.gz.part").write_bytes(data)  # a partial download: ignored
    with tarfile.open(good) as tar:
        order = [m.name for m in tar.getmembers()]
    lake = tmp_path / "lake"
    house = Lakehouse(Settings(lake=lake, stream={"watch_stable_seconds": 0.2}), spark_session)
    house.ensure_tables()
    query = house.start_bronze_files([str(good), str(cut.parent)], available_now=True)
    query.awaitTermination()
    assert query.exception() is None
    house.run_downstream_available_now()

    bronze = DeltaTable(str(lake / "bronze" / "alerts")).to_pandas(
        columns=["file_path", "file_member", "source_error", "payload_size"]
    )
    from_cut = bronze[bronze["file_path"] == str(cut)]
    members = from_cut[from_cut["source_error"].isna()]["file_member"].tolist()
    assert 0 < len(members) < 80 and sorted(members) == sorted(order[: len(members)])
    errors = from_cut[from_cut["source_error"].notna()]
    assert len(errors) == 1 and errors["source_error"].iloc[0].startswith("corrupt_archive: ")
    assert set(bronze["file_path"]) == {str(good), str(cut)}
    rejects = DeltaTable(str(lake / "silver" / "rejects")).to_pandas(columns=["reason_code", "file_path"])
    assert rejects.values.tolist() == [["corrupt_archive", str(cut)]]
    assert sorted(_silver_candids(lake)) == sorted(c for c in simulated["candids"] if c in _tar_candids(good))


def _tar_candids(path: Path) -> set[int]:
    import tarfile

    with tarfile.open(path) as tar:
        return {int(m.name.split(".")[0]) for m in tar.getmembers()}
