"""Real Rubin (LSST) alerts, mixed with ZTF ones, land in their own silver table, deduplicated."""

from __future__ import annotations

from pathlib import Path

import fastavro
import pyarrow.compute as pc
from deltalake import DeltaTable

from siskin.config import Settings


def _records(paths: list[Path]) -> list[int]:
    ids = []
    for path in paths:
        with path.open("rb") as fh:
            ids += [r.get("diaSourceId") or r["diaSource"]["diaSourceId"] for r in fastavro.reader(fh)]
    return ids


def test_rubin_and_ztf_alerts_share_one_stream_and_split_in_silver(
    spark_session, shared_data: Path, tmp_path: Path
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse

    lsst = shared_data / "lsst"
    rubin_inputs = [
        lsst / "fink-broker" / "rubin_test_data_9_0_avro",
        lsst / "fink-client" / "part-2-918301.avro",
    ]
    ztf_input = shared_data / "ztf" / "alerts" / "fink-broker-2020-01-01"
    files = sorted(rubin_inputs[0].glob("*.avro")) + [rubin_inputs[1]]
    expected = _records(files)
    lake = tmp_path / "lake"
    house = Lakehouse(Settings(lake=str(lake)), spark_session)
    house.ensure_tables()
    house.start_bronze_files(
        [str(p) for p in [*rubin_inputs, ztf_input]], available_now=True
    ).awaitTermination()
    house.run_downstream_available_now()

    rubin = DeltaTable(str(lake / "silver" / "rubin_alerts")).to_pyarrow_table(
        columns=["diaSourceId", "diaObjectId", "survey", "night", "ra", "dec", "prvDiaSources"]
    )
    assert sorted(rubin.column("diaSourceId").to_pylist()) == sorted(set(expected))
    assert pc.count_distinct(rubin.column("diaSourceId")).as_py() == rubin.num_rows
    assert set(rubin.column("survey").to_pylist()) == {"rubin"}
    assert pc.min(rubin.column("night")).as_py() > 20200101
    assert max(len(v or []) for v in rubin.column("prvDiaSources").to_pylist()) > 100  # long v10 histories
    ztf = DeltaTable(str(lake / "silver" / "alerts")).to_pyarrow_table(columns=["candid"])
    assert ztf.num_rows == len(list(ztf_input.glob("*.avro")))
    cutouts = DeltaTable(str(lake / "silver" / "cutouts")).to_pyarrow_table(columns=["candid"])
    keys = set(cutouts.column("candid").to_pylist())
    assert set(expected) <= keys and set(ztf.column("candid").to_pylist()) <= keys
    assert cutouts.num_rows == len(keys)
    bronze = DeltaTable(str(lake / "bronze" / "alerts")).to_pandas(columns=["survey"])
    assert set(bronze["survey"]) == {"rubin", "ztf"}


def test_rubin_alerts_are_quality_flagged_and_reach_gold_and_lightcurves(
    spark_session, shared_data: Path, tmp_path: Path
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.query.sql import run_sql

    source = shared_data / "lsst" / "fink-client" / "part-2-918301.avro"
    lake = tmp_path / "lake"
    house = Lakehouse(Settings(lake=str(lake)), spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(source)], available_now=True).awaitTermination()
    house.run_downstream_available_now()

    rubin = DeltaTable(str(lake / "silver" / "rubin_alerts")).to_pandas(
        columns=["diaObjectId", "quality_ok", "quality_reason", "psfFlux", "psfFluxErr"]
    )
    assert rubin["quality_ok"].notna().all()  # every alert is judged
    snr = (rubin["psfFlux"] / rubin["psfFluxErr"]).abs()
    assert not rubin.loc[snr < 5, "quality_ok"].any()
    assert (rubin["quality_ok"] == rubin["quality_reason"].isna()).all()

    gold = DeltaTable(str(lake / "gold" / "objects")).to_pandas()
    gold = gold[gold["survey"] == "rubin"]
    expected = rubin.dropna(subset=["diaObjectId"]).groupby("diaObjectId").size()
    assert sorted(gold["objectId"]) == sorted(str(i) for i in expected.index)
    assert dict(zip(gold["objectId"], gold["n_alerts"], strict=True)) == {
        str(k): int(v) for k, v in expected.items()
    }
    from siskin.gold.cells import cell_of  # each row sits in the sky cell of one of its alerts

    alerts = DeltaTable(str(lake / "silver" / "rubin_alerts")).to_pandas(columns=["diaObjectId", "ra", "dec"])
    alerts = alerts.dropna(subset=["diaObjectId"])
    ids = alerts["diaObjectId"].astype("int64").astype(str)
    cells = alerts.assign(cell=cell_of(alerts["ra"], alerts["dec"]), oid=ids).groupby("oid")["cell"].agg(set)
    assert all(b in cells[o] for o, b in zip(gold["objectId"], gold["bucket"], strict=True))

    kinds = run_sql(
        spark_session,
        house.engine,
        house.settings.lake_uri,
        "SELECT kind, count(*) AS n, count(DISTINCT objectId) AS objects FROM gold.lightcurves "
        "WHERE survey = 'rubin' GROUP BY kind",
    ).toPandas()
    by_kind = dict(zip(kinds["kind"], kinds["n"], strict=True))
    assert by_kind.get("detection", 0) > len(rubin)  # the alerts plus their prvDiaSources history
    assert by_kind.get("forced", 0) > 0
