"""`siskin xmatch` end to end: silver positions -> silver.xmatch, readable by SQL, idempotent per night."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from xmatch_inputs import rubin_positions, ztf_positions

from siskin.config import Settings
from siskin.lake.catalog import table
from siskin.lake.engine import get_engine
from siskin.lake.transactions import ensure_table
from siskin.query.sql import run_sql
from siskin.science.xmatch.join import run_xmatch

NIGHTS = (20200101, 20200102)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Settings:
    """A lake whose silver tables hold the real ZTF and Rubin alert positions, split over two nights.

    Only the columns the cross-match reads are filled here; tests/science/test_xmatch_pipeline.py (slow)
    runs the same command on silver tables the real pipeline wrote.
    """
    settings = Settings(lake=tmp_path_factory.mktemp("xcmd") / "lake")
    ztf = ztf_positions(shared_data / "ztf" / "alerts")
    rubin = rubin_positions(shared_data / "lsst")
    for positions, name, key, obj in (
        (ztf, "silver.alerts", "candid", "objectId"),
        (rubin, "silver.rubin_alerts", "diaSourceId", "diaObjectId"),
    ):
        nights = pa.array([NIGHTS[i % 2] for i in range(positions.num_rows)], pa.int32())
        silver = pa.table(
            {
                key: positions["candid"],
                obj: positions["objectId"]
                if obj == "objectId"
                else pc.cast(positions["objectId"], pa.int64()),
                "ra": positions["ra"],
                "dec": positions["dec"],
                "night": nights,
            }
        )
        schema = table(name).arrow_schema()  # the real silver schema; columns not read here stay null
        schema = pa.schema([f.with_nullable(True) for f in schema])
        silver = silver.append_column("survey", pa.array([positions["survey"][0].as_py()] * silver.num_rows))
        full = pa.table(
            [
                silver[f.name].cast(f.type)
                if f.name in silver.column_names
                else pa.nulls(silver.num_rows, f.type)
                for f in schema
            ],
            schema=schema,
        )
        ensure_table(table(name).path(settings.lake_uri), schema, ["night"])
        write_deltalake(table(name).path(settings.lake_uri), full, mode="append", partition_by=["night"])
    from siskin.science.xmatch.catalogs import load_catalog

    load_catalog(settings, shared_data / "catalogs/fink-science/gcvs.parquet", "gcvs")
    load_catalog(settings, shared_data / "catalogs/fink-science/mangrove_filtered.parquet", "mangrove")
    return settings


def _xmatch(settings: Settings) -> pa.Table:
    return DeltaTable(table("silver.xmatch").path(settings.lake_uri)).to_pyarrow_table()


def test_xmatch_writes_sql_readable_rows_and_reruns_replace(spark_session, lake: Settings) -> None:  # noqa: ANN001
    first = run_xmatch(lake, "gcvs", spark=spark_session)
    assert first.radius_arcsec == 1.5 and first.nearest  # the shipped GCVS settings
    assert first.matches > 5 and sorted(first.nights) == list(NIGHTS)
    sql = "SELECT candid, catalog, match_id, match_type, sep_arcsec FROM silver.xmatch WHERE catalog = 'gcvs'"
    rows = run_sql(spark_session, get_engine("delta-rs"), lake.lake_uri, sql).collect()
    assert len(rows) == first.matches
    assert all(r["sep_arcsec"] <= 1.5 for r in rows)
    assert any(r["match_type"] for r in rows)  # GCVS VarType
    again = run_xmatch(lake, "gcvs", spark=spark_session)
    assert again.matches == first.matches
    assert _xmatch(lake).num_rows == first.matches  # replaced, not appended


def test_rerun_of_one_night_leaves_the_other_and_other_catalogs(spark_session, lake: Settings) -> None:  # noqa: ANN001
    run_xmatch(lake, "gcvs", spark=spark_session)
    mangrove = run_xmatch(lake, "mangrove", spark=spark_session, nearest=False)
    assert mangrove.matches > 0
    before = _xmatch(lake)
    n_gcvs_other = len([r for r in before.to_pylist() if r["catalog"] == "gcvs" and r["night"] == NIGHTS[1]])
    # a tiny radius on night 1: that night's gcvs rows are replaced by (fewer) new ones
    small = run_xmatch(lake, "gcvs", radius_arcsec=0.05, night=NIGHTS[0], spark=spark_session)
    after = _xmatch(lake).to_pylist()
    night1 = [r for r in after if r["catalog"] == "gcvs" and r["night"] == NIGHTS[0]]
    assert len(night1) == small.matches and all(r["radius_arcsec"] == 0.05 for r in night1)
    assert len([r for r in after if r["catalog"] == "gcvs" and r["night"] == NIGHTS[1]]) == n_gcvs_other
    assert len([r for r in after if r["catalog"] == "mangrove"]) == mangrove.matches
    keys = [(r["survey"], r["candid"], r["catalog"], r["match_id"]) for r in after]
    assert len(set(keys)) == len(keys)  # the table's key holds


def test_rubin_alerts_are_matched_too(spark_session, lake: Settings) -> None:  # noqa: ANN001
    run = run_xmatch(lake, "mangrove", radius_arcsec=600.0, surveys=["rubin"], spark=spark_session)
    assert run.surveys == ["rubin"] and run.alerts > 50
    rows = [r for r in _xmatch(lake).to_pylist() if r["catalog"] == "mangrove" and r["survey"] == "rubin"]
    assert len(rows) == run.matches > 0
    rubin_ids = set(
        DeltaTable(table("silver.rubin_alerts").path(lake.lake_uri))
        .to_pyarrow_table()["diaSourceId"]
        .to_pylist()
    )
    assert {r["candid"] for r in rows} <= rubin_ids


def test_unknown_catalog_is_a_clear_error(spark_session, lake: Settings) -> None:  # noqa: ANN001
    from siskin.errors import LakeError

    with pytest.raises(LakeError, match="not loaded"):
        run_xmatch(lake, "vsx_missing", spark=spark_session)


def test_cli_catalogs_load_list_and_xmatch(tmp_path: Path, shared_data: Path, capsys) -> None:  # noqa: ANN001
    """The commands parse and run (catalogs need no Spark; xmatch itself is run above via its function)."""
    from siskin.cli.main import main

    lake = str(tmp_path / "lake")
    path = shared_data / "catalogs/fink-science/table-4LAC-DR3-l.fits"
    assert main(["--lake", lake, "catalogs", "load", str(path), "--name", "4lac_l"]) == 0
    assert main(["--lake", lake, "catalogs", "list"]) == 0
    out = capsys.readouterr().out
    assert '"rows": 407' in out and "4lac_l" in out.splitlines()[-1]
    assert main(["--lake", lake, "catalogs", "load", str(path), "--name", "x", "--ra", "nope"]) == 2
    assert main(["--lake", lake, "xmatch", "--catalog", "nothere", "--radius", "2"]) == 2


def test_bench_xmatch_command_reports_its_figures(
    spark_session, tmp_path: Path, shared_data: Path, capsys
) -> None:  # noqa: ANN001
    """`siskin bench xmatch` on a small input: one JSON line with the wall time and the match count."""
    import json

    from siskin.cli.main import main

    catalog = shared_data / "catalogs/fink-science/table-4LAC-DR3-h.fits"
    argv = [
        "bench",
        "xmatch",
        "--positions",
        "20000",
        "--catalog",
        str(catalog),
        "--name",
        "lac",
        "--radius",
        "600",
    ]
    assert main([*argv, "--work-dir", str(tmp_path / "w")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["positions"] == 20000 and result["catalog_rows"] == 3407
    assert result["xmatch_wall_s"] > 0 and 0 < result["matches"] < 20000


def test_cli_xmatch_runs_on_the_lake(spark_session, lake: Settings, capsys) -> None:  # noqa: ANN001
    import json

    from siskin.cli.main import main

    assert main(["--lake", lake.lake_uri, "xmatch", "--catalog", "gcvs", "--night", str(NIGHTS[1])]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["nights"] == [NIGHTS[1]] and run["catalog"] == "gcvs" and run["radius_arcsec"] == 1.5
    rows = [r for r in _xmatch(lake).to_pylist() if r["catalog"] == "gcvs" and r["night"] == NIGHTS[1]]
    assert len(rows) == run["matches"] > 0
