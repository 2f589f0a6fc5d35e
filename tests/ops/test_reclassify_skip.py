"""The nightly reclassify step needs no lease for a night the current modules already scored.

A lake whose silver rows carry the current `<module>_version` of every enabled module is reclassified
as a no-op (recorded in the step's summary) while another process holds the silver and gold leases,
as the streams do; a null version (a module failed on that batch), an older version or a catalog
loaded after the night was scored makes the step replay, which then needs the leases. The slow test
replays a real night whose versions were nulled and finds it current afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from siskin.config import Settings
from siskin.errors import LeaseHeldError
from siskin.lake.catalog import table
from siskin.lake.transactions import ensure_table, forget_table
from siskin.ops.lease import read_holder
from siskin.ops.reclassify import enabled_versions, night_scoring
from siskin.orchestration.nightly import reclassify_night

NIGHT = 20261121
HOLDER = "siskin run silver (a stream of another process)"


def _write(settings: Settings, name: str, rows: list[dict]) -> str:
    spec = table(name)
    uri = spec.path(settings.lake_uri)
    ensure_table(uri, spec.arrow_schema(), spec.partition_by)
    write_deltalake(uri, pa.Table.from_pylist(rows, spec.arrow_schema()), mode="append")
    forget_table(uri)
    return uri


def _scored_lake(root: Path) -> Settings:
    """A lake holding night NIGHT in bronze and silver, every silver row scored by the current modules."""
    settings = Settings(lake=root / "lake")
    now = datetime.now(UTC)
    _write(
        settings,
        "bronze.alerts",
        [
            {"night": NIGHT, "payload_size": 1, "sha256": "00", "source": "file", "ingest_time": now}
            for _ in range(4)
        ],
    )
    ztf = enabled_versions(settings, "ztf")
    _write(
        settings,
        "silver.alerts",
        [
            {
                "night": NIGHT,
                "survey": "ztf",
                "schema_version": "4.02",
                "objectId": f"ZTF26aaaa{i}",
                "candid": 1000 + i,
                "processed_at": now,
                **ztf,
            }
            for i in range(3)
        ],
    )
    rubin = enabled_versions(settings, "rubin")
    _write(
        settings,
        "silver.rubin_alerts",
        [
            {
                "night": NIGHT,
                "survey": "rubin",
                "schema_version": "9.0",
                "diaSourceId": 7,
                "processed_at": now,
                **rubin,
            }
        ],
    )
    return settings


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Settings]:
    """A scored lake whose silver and gold leases another live process holds (as running streams do)."""
    settings = _scored_lake(tmp_path)
    code = (
        "import sys, time\n"
        "from siskin.ops.lease import acquire\n"
        f"leases = acquire({settings.lake_uri!r}, ['silver', 'gold'], {HOLDER!r})\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
        "for lease in leases: lease.release()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield settings
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def _versions(settings: Settings) -> dict[str, int]:
    names = ("bronze.alerts", "silver.alerts", "silver.rubin_alerts")
    return {n: DeltaTable(table(n).path(settings.lake_uri)).version() for n in names}


def test_current_night_is_skipped_without_leases_while_streams_hold_them(held: Settings) -> None:
    before = _versions(held)
    holders = {n: read_holder(held.lake_uri, n) for n in ("silver", "gold")}
    assert all(h is not None and h.command == HOLDER for h in holders.values())
    started = time.monotonic()
    summary = reclassify_night(held, NIGHT)
    assert summary["nights"] == [] and summary["leases_taken"] is False
    assert "scored by the current modules (4 alerts)" in summary["skipped"][str(NIGHT)]
    assert summary["rescored_because"] == {} and summary["alerts"] == 0
    assert time.monotonic() - started < 30  # no Spark session was started for it
    assert _versions(held) == before  # no table touched
    assert {n: read_holder(held.lake_uri, n) for n in ("silver", "gold")} == holders  # leases untouched


def test_manual_reclassify_skips_current_nights_and_force_needs_the_leases(
    held: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from siskin.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["--lake", held.lake_uri, "reclassify", "--from", str(NIGHT)])
    assert args.func(args) == 0
    assert (
        f"night {NIGHT}: 4 alerts already scored by the current modules, skipped" in capsys.readouterr().out
    )
    args = parser.parse_args(["--lake", held.lake_uri, "reclassify", "--from", str(NIGHT), "--force"])
    with pytest.raises(LeaseHeldError, match="siskin run silver"):
        args.func(args)


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"finkclass_version": "NULL"}, "silver.alerts.finkclass_version: null (module failed)"),
        ({"snia_version": "'0.9.0'"}, "silver.alerts.snia_version: not 1.0.0"),
    ],
)
def test_null_or_old_version_is_rescored_and_needs_the_leases(
    held: Settings, update: dict[str, str], reason: str
) -> None:
    uri = table("silver.alerts").path(held.lake_uri)
    DeltaTable(uri).update(updates=update, predicate="candid = 1001")
    forget_table(uri)
    scoring = night_scoring(held, NIGHT)
    assert not scoring.current and scoring.stale == {reason: 1}
    before = _versions(held)
    with pytest.raises(LeaseHeldError) as error:
        reclassify_night(held, NIGHT)
    assert HOLDER in str(error.value) and "silver" in str(error.value)  # names the holder
    assert _versions(held) == before


def test_a_rubin_module_version_counts_too(tmp_path: Path) -> None:
    settings = _scored_lake(tmp_path)
    uri = table("silver.rubin_alerts").path(settings.lake_uri)
    DeltaTable(uri).update(updates={"rubin_roid_version": "NULL"}, predicate="diaSourceId = 7")
    forget_table(uri)
    scoring = night_scoring(settings, NIGHT)
    assert scoring.stale == {"silver.rubin_alerts.rubin_roid_version: null (module failed)": 1}
    assert scoring.alerts == 4


def test_a_catalog_loaded_after_the_night_was_scored_makes_it_stale(tmp_path: Path) -> None:
    from siskin.science.xmatch.catalogs import load_catalog

    settings = _scored_lake(tmp_path)
    assert night_scoring(settings, NIGHT).current
    path = tmp_path / "probe.parquet"
    pq.write_table(pa.table({"ra": [10.0], "dec": [20.0], "name": ["probe"]}), path)
    load_catalog(settings, path, "probe")
    scoring = night_scoring(settings, NIGHT)
    assert scoring.catalogs_changed == ["probe"] and not scoring.current
    assert scoring.reasons() == ["catalog probe loaded after rows of the night were scored"]
    # rows scored after the load plus their survey's catalog-cache refresh (60 s by default) are current
    loaded = _load_time(settings, "probe")
    _processed_at(settings, "silver.alerts", loaded + timedelta(seconds=30))
    _processed_at(settings, "silver.rubin_alerts", loaded + timedelta(minutes=5))
    assert night_scoring(settings, NIGHT).catalogs_changed == ["probe"]  # ZTF rows within 60 s of it
    quick = settings.model_copy(
        update={
            "science": settings.science.model_copy(
                update={"module_config": {"catalog_labels": {"refresh_seconds": 0}}}
            )
        }
    )
    assert night_scoring(quick, NIGHT).current  # the Rubin modules' 60 s apply to Rubin rows only


def _load_time(settings: Settings, name: str) -> datetime:
    from siskin.science.xmatch.catalogs import list_catalogs

    [row] = [r for r in list_catalogs(settings).to_pylist() if r["name"] == name]
    return row["load_time"]


def _processed_at(settings: Settings, name: str, when: datetime) -> None:
    uri = table(name).path(settings.lake_uri)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    DeltaTable(uri).update(updates={"processed_at": f"CAST('{stamp}' AS TIMESTAMP)"})
    forget_table(uri)


@pytest.mark.slow
def test_a_real_night_with_nulled_versions_is_replayed_then_current(
    spark_session: object, shared_data: Path, tmp_path: Path
) -> None:
    import pyarrow.compute as pc

    from siskin.pipeline.lakehouse import Lakehouse

    settings = Settings(lake=tmp_path / "lake", spark={"shuffle_partitions": 2, "driver_memory": "3g"})
    house = Lakehouse(settings, spark_session)  # type: ignore[arg-type]
    house.ensure_tables()
    alerts = shared_data / "ztf" / "alerts" / "fink-alert-simulator-2018-11-29"
    house.start_bronze_files([str(alerts)], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    house.release()
    uri = table("silver.alerts").path(settings.lake_uri)
    silver = DeltaTable(uri).to_pyarrow_table(columns=["night", "candid"])
    night = int(pc.mode(silver.column("night"))[0]["mode"].as_py())
    assert night_scoring(settings, night).current
    assert reclassify_night(settings, night)["nights"] == []
    DeltaTable(uri).update(updates={"mulens_version": "NULL"}, predicate=f"night = {night}")
    forget_table(uri)
    stale = night_scoring(settings, night)
    n = stale.stale["silver.alerts.mulens_version: null (module failed)"]
    assert n == pc.sum(pc.equal(silver.column("night"), night)).as_py() > 0
    summary = reclassify_night(settings, night)
    assert summary["nights"] == [night] and summary["leases_taken"] is True
    assert summary["rescored_because"][str(night)] == [
        f"silver.alerts.mulens_version: null (module failed) ({n} rows)"
    ]
    assert summary["alerts"] == n
    forget_table(uri)
    after = DeltaTable(uri).to_pyarrow_table(columns=["mulens_version"], filters=[("night", "=", night)])
    assert after.num_rows == n and after.column("mulens_version").null_count == 0
    assert night_scoring(settings, night).current
    assert read_holder(settings.lake_uri, "silver") is None and read_holder(settings.lake_uri, "gold") is None
