"""Every real ZTF alert in ../shared/data goes through bronze -> silver -> gold, and the counts reconcile."""

from __future__ import annotations

import hashlib
from pathlib import Path

import fastavro
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.lake.tables import table_path


def _records_in(path: Path) -> int:
    """Independent oracle: records fastavro reads in a file (a file it cannot read counts as 1 input)."""
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fastavro.reader(fh))
    except Exception:  # noqa: BLE001 - unreadable to the oracle: the pipeline must reject it (1 reject)
        return 1


@pytest.fixture(scope="module")
def real_lake(spark_session, ztf_alert_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    from siskin.pipeline.lakehouse import Lakehouse

    settings = Settings(lake=tmp_path_factory.mktemp("real") / "lake")
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(ztf_alert_dir)], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    return house


def _table(house, name: str):  # noqa: ANN001, ANN202
    return DeltaTable(table_path(house.settings.lake_uri, name)).to_pyarrow_table()


def test_every_alert_lands_in_silver_or_rejects_and_counts_reconcile(real_lake, ztf_alert_dir: Path) -> None:
    files = sorted(ztf_alert_dir.rglob("*.avro"))
    expected = sum(_records_in(f) or 1 for f in files)
    silver = _table(real_lake, "silver.alerts").num_rows
    rejects = _table(real_lake, "silver.rejects").num_rows
    ops = _table(real_lake, "ops.batches").to_pandas()
    duplicates = int(ops.loc[ops["query"] == "silver", "duplicates"].sum())
    assert _table(real_lake, "bronze.alerts").num_rows == len(files)
    assert silver > 400
    assert silver + rejects + duplicates == expected, (silver, rejects, duplicates, expected)


def test_silver_holds_each_candid_once(real_lake) -> None:
    candids = _table(real_lake, "silver.alerts").column("candid")
    assert pc.count_distinct(candids).as_py() == len(candids)


def test_all_ztf_schema_versions_decode(real_lake) -> None:
    versions = set(_table(real_lake, "silver.alerts").column("schema_version").to_pylist())
    assert {"3.0", "3.2", "3.3", "4.02"} <= versions


def test_bronze_keeps_the_received_bytes_exactly(real_lake, ztf_alert_dir: Path) -> None:
    bronze = _table(real_lake, "bronze.alerts")
    by_path = dict(
        zip(bronze.column("file_path").to_pylist(), bronze.column("sha256").to_pylist(), strict=True)
    )
    for path in sorted(ztf_alert_dir.rglob("*.avro")):
        assert by_path[str(path.resolve())] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_cutouts_are_keyed_by_the_silver_candids(real_lake) -> None:
    silver = set(_table(real_lake, "silver.alerts").column("candid").to_pylist())
    cutouts = _table(real_lake, "silver.cutouts")
    assert set(cutouts.column("candid").to_pylist()) == silver
    stamps = cutouts.column("cutoutScience_stampData").to_pylist()
    assert all(s is None or s[:2] == b"\x1f\x8b" for s in stamps)  # gzip FITS as in the alert


def test_quality_cuts_flag_without_dropping(real_lake) -> None:
    silver = _table(real_lake, "silver.alerts").to_pandas()
    bad = silver[~silver["quality_ok"]]
    assert len(bad) > 0 and bad["quality_reason"].notna().all()
    assert ((silver["rb"] < 0.55) <= ~silver["quality_ok"]).all()


def test_gold_has_one_row_per_object_and_counts_every_alert(real_lake) -> None:
    silver = _table(real_lake, "silver.alerts").to_pandas()
    gold = _table(real_lake, "gold.objects").to_pandas()
    assert gold["objectId"].is_unique
    assert set(gold["objectId"]) == set(silver["objectId"])
    assert gold["n_alerts"].sum() == len(silver)
    one = silver.groupby("objectId").size().idxmax()
    row = gold.set_index("objectId").loc[one]
    assert row["last_jd"] == silver.loc[silver["objectId"] == one, "jd"].max()


def test_sql_and_lightcurves_view(real_lake) -> None:
    from siskin.query.sql import run_sql

    count = run_sql(
        real_lake.spark,
        real_lake.engine,
        real_lake.settings.lake_uri,
        "SELECT count(*) AS n FROM silver.alerts",
    ).collect()[0]["n"]
    assert count == _table(real_lake, "silver.alerts").num_rows
    kinds = {
        r["kind"]
        for r in run_sql(
            real_lake.spark,
            real_lake.engine,
            real_lake.settings.lake_uri,
            "SELECT DISTINCT kind FROM gold.lightcurves",
        ).collect()
    }
    assert kinds == {"detection", "upper_limit"}


def test_replay_rebuilds_a_night_without_changing_counts(real_lake) -> None:
    from siskin.ops.replay import replay_night

    silver = _table(real_lake, "silver.alerts").to_pandas()
    night = int(silver["night"].value_counts().idxmax())
    before = len(silver[silver["night"] == night])
    gold_before = _table(real_lake, "gold.objects").to_pandas().set_index("objectId")["n_alerts"]
    report = replay_night(real_lake, night)
    assert report.silver_before == before and report.silver_after == before
    after = _table(real_lake, "silver.alerts").to_pandas()
    assert len(after) == len(silver) and after["candid"].is_unique
    gold_after = _table(real_lake, "gold.objects").to_pandas().set_index("objectId")["n_alerts"]
    assert gold_after.sort_index().equals(gold_before.sort_index())


def test_lightcurves_view_equals_an_oracle_and_pushes_the_object_filter(real_lake) -> None:
    """Every object's points: its alerts and their histories, each (jd, band, kind) once, own alert first."""
    import pandas as pd

    from siskin.query.sql import run_sql

    silver = _table(real_lake, "silver.alerts").to_pandas()
    rows = []
    for alert in silver.itertuples():
        rows.append(
            (alert.objectId, round(alert.jd * 86400000), int(alert.fid), "detection", 0, alert.candid)
        )
        for prv in alert.prv_candidates if alert.prv_candidates is not None else []:
            kind = "upper_limit" if prv["magpsf"] is None or pd.isna(prv["magpsf"]) else "detection"
            rows.append(
                (alert.objectId, round(prv["jd"] * 86400000), int(prv["fid"]), kind, 1, prv["candid"])
            )
    oracle = pd.DataFrame(rows, columns=["objectId", "jd_ms", "fid", "kind", "priority", "candid"])
    oracle = oracle.drop_duplicates(["objectId", "jd_ms", "fid", "kind"])
    expected = oracle.groupby("objectId").size().to_dict()
    settings = real_lake.settings
    lc = run_sql(
        real_lake.spark,
        real_lake.engine,
        settings.lake_uri,
        "SELECT objectId, count(*) AS n FROM gold.lightcurves WHERE survey = 'ztf' GROUP BY objectId",
    ).collect()
    assert {r["objectId"]: r["n"] for r in lc} == expected
    # the alert's own measurement wins over the same point repeated in a later alert's history
    own = silver.iloc[0]
    point = run_sql(
        real_lake.spark,
        real_lake.engine,
        settings.lake_uri,
        f"SELECT candid FROM gold.lightcurves WHERE objectId = '{own.objectId}' AND jd = {float(own.jd)!r}",
    ).collect()
    assert [r["candid"] for r in point] == [own.candid]
    plan = (
        run_sql(
            real_lake.spark,
            real_lake.engine,
            settings.lake_uri,
            f"SELECT * FROM gold.lightcurves WHERE objectId = '{own.objectId}'",
        )
        ._jdf.queryExecution()
        .optimizedPlan()
        .toString()
    )
    window_at = plan.index("Window")
    assert "objectId#" in plan[window_at:] and f"= {own.objectId})" in plan[window_at:]  # below the window
