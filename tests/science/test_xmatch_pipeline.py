"""Slow: real ZTF and Rubin alerts through the pipeline, then `siskin xmatch` on the silver it wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.lake.catalog import table
from siskin.lake.engine import get_engine
from siskin.query.sql import run_sql
from siskin.science.xmatch.catalogs import load_catalog
from siskin.science.xmatch.join import run_xmatch


@pytest.mark.slow
def test_xmatch_on_pipeline_silver_against_whole_vsx(
    spark_session, shared_data: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    from siskin.pipeline.lakehouse import Lakehouse

    settings = Settings(lake=str(tmp_path / "lake"))
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    inputs = [
        shared_data / "ztf" / "alerts",
        shared_data / "lsst" / "fink-broker" / "rubin_test_data_9_0_avro",
    ]
    house.start_bronze_files([str(p) for p in inputs], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    vsx = shared_data / "catalogs/fink-science/vsx.parquet"
    load_catalog(settings, vsx, "vsx")

    run = run_xmatch(settings, "vsx", spark=spark_session)
    assert run.radius_arcsec == 1.5 and set(run.surveys) == {"rubin", "ztf"}
    rows = run_sql(
        spark_session,
        get_engine("delta-rs"),
        settings.lake_uri,
        "SELECT candid, catalog, match_id, match_type, sep_arcsec FROM silver.xmatch",
    ).toArrow()
    assert rows.num_rows == run.matches

    # oracle: astropy's nearest neighbour in the whole VSX file for every ZTF silver alert
    silver = DeltaTable(table("silver.alerts").path(settings.lake_uri)).to_pyarrow_table(
        columns=["candid", "ra", "dec"]
    )
    source = pq.read_table(vsx, columns=["RAJ2000", "DEJ2000"])
    idx, sep, _ = match_coordinates_sky(
        SkyCoord(silver["ra"].to_numpy() * u.deg, silver["dec"].to_numpy() * u.deg),
        SkyCoord(source["RAJ2000"].to_numpy() * u.deg, source["DEJ2000"].to_numpy() * u.deg),
    )
    keep = sep.arcsec <= 1.5
    expected = {
        (int(c), f"#{int(i)}"): float(s)
        for c, i, s in zip(silver["candid"].to_numpy()[keep], idx[keep], sep.arcsec[keep], strict=True)
    }
    ztf_rows = DeltaTable(table("silver.xmatch").path(settings.lake_uri)).to_pyarrow_table()
    ours = {
        (r["candid"], r["match_id"]): r["sep_arcsec"] for r in ztf_rows.to_pylist() if r["survey"] == "ztf"
    }
    assert len(expected) > 50 and set(ours) == set(expected)
    assert np.max(np.abs([ours[k] - expected[k] for k in ours])) < 1e-6
