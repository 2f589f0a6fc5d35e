"""The Spark pixel join equals astropy on real alert positions (ZTF and Rubin) against real catalogs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky
from deltalake import DeltaTable
from xmatch_inputs import near, rubin_positions, ztf_positions

from siskin.config import Settings
from siskin.lake.engine import get_engine
from siskin.science.xmatch.catalogs import catalog_uri, load_catalog
from siskin.science.xmatch.join import crossmatch

SEP_TOL_ARCSEC = 1e-6


@pytest.fixture(scope="module")
def ztf(shared_data: Path) -> pa.Table:
    return ztf_positions(shared_data / "ztf" / "alerts")


@pytest.fixture(scope="module")
def rubin(shared_data: Path) -> pa.Table:
    return rubin_positions(shared_data / "lsst")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(lake=tmp_path_factory.mktemp("xmatch") / "lake")


@pytest.fixture(scope="module")
def vsx_near(lake: Settings, shared_data: Path, ztf: pa.Table, rubin: pa.Table, tmp_path_factory) -> str:  # noqa: ANN001
    """Real VSX rows within 0.1 deg of a real alert (the whole 1.9 M rows: the benchmark and a slow test)."""
    positions = pa.concat_tables([ztf, rubin])
    part = near(shared_data / "catalogs/fink-science/vsx.parquet", "RAJ2000", "DEJ2000", positions, 0.1)
    path = tmp_path_factory.mktemp("vsx") / "vsx_near.parquet"
    pq.write_table(part, path)
    load_catalog(lake, path, "vsx")
    return catalog_uri(lake, "vsx")


@pytest.fixture(scope="module")
def mangrove(lake: Settings, shared_data: Path) -> str:
    load_catalog(lake, shared_data / "catalogs/fink-science/mangrove_filtered.parquet", "mangrove")
    return catalog_uri(lake, "mangrove")


def _spark_match(
    spark, positions: pa.Table, uri: str, name: str, radius: float, nearest: bool, **kw
) -> pa.Table:  # noqa: ANN001
    cat = get_engine("delta-rs").read(spark, uri)
    df = spark.createDataFrame(positions)
    return crossmatch(df, cat, name=name, radius_arcsec=radius, nearest=nearest, **kw).toArrow()


def _coords(ra: np.ndarray, dec: np.ndarray) -> SkyCoord:
    return SkyCoord(ra * u.deg, dec * u.deg)


def _astropy_nearest(positions: pa.Table, uri: str, radius: float) -> dict[tuple[int, str], float]:
    cat = DeltaTable(uri).to_pyarrow_table(columns=["ra", "dec", "id"])
    idx, sep, _ = match_coordinates_sky(
        _coords(positions["ra"].to_numpy(), positions["dec"].to_numpy()),
        _coords(cat["ra"].to_numpy(), cat["dec"].to_numpy()),
    )
    ids = cat["id"].to_numpy(zero_copy_only=False)
    keep = sep.arcsec <= radius
    candids = positions["candid"].to_numpy()
    return {
        (int(c), str(ids[i])): float(s)
        for c, i, s in zip(candids[keep], idx[keep], sep.arcsec[keep], strict=True)
    }


def _astropy_all(positions: pa.Table, uri: str, radius: float) -> dict[tuple[int, str], float]:
    cat = DeltaTable(uri).to_pyarrow_table(columns=["ra", "dec", "id"])
    i_alert, i_cat, sep, _ = search_around_sky(
        _coords(positions["ra"].to_numpy(), positions["dec"].to_numpy()),
        _coords(cat["ra"].to_numpy(), cat["dec"].to_numpy()),
        radius * u.arcsec,
    )
    ids = cat["id"].to_numpy(zero_copy_only=False)
    candids = positions["candid"].to_numpy()
    return {
        (int(candids[a]), str(ids[c])): float(s) for a, c, s in zip(i_alert, i_cat, sep.arcsec, strict=True)
    }


def _ours(result: pa.Table) -> dict[tuple[int, str], float]:
    keys = list(zip(result["candid"].to_pylist(), result["match_id"].to_pylist(), strict=True))
    assert len(set(keys)) == len(keys), "a (candid, match_id) pair appears twice"
    return dict(zip(keys, result["sep_arcsec"].to_pylist(), strict=True))


def _assert_same(ours: dict[tuple[int, str], float], theirs: dict[tuple[int, str], float]) -> None:
    assert set(ours) == set(theirs), (
        sorted(set(ours) - set(theirs))[:5],
        sorted(set(theirs) - set(ours))[:5],
    )
    worst = max((abs(ours[k] - theirs[k]) for k in ours), default=0.0)
    assert worst < SEP_TOL_ARCSEC, worst


def test_ztf_vs_vsx_nearest_equals_match_coordinates_sky(spark_session, ztf: pa.Table, vsx_near: str) -> None:  # noqa: ANN001
    result = _spark_match(spark_session, ztf, vsx_near, "vsx", 1.5, nearest=True)
    expected = _astropy_nearest(ztf, vsx_near, 1.5)
    assert len(expected) > 50  # real alerts on known variable stars
    _assert_same(_ours(result), expected)
    assert set(result["catalog"].to_pylist()) == {"vsx"}
    assert result["match_type"].null_count < result.num_rows  # VSX types come back


def test_ztf_vs_mangrove_nearest_and_all(spark_session, ztf: pa.Table, mangrove: str) -> None:  # noqa: ANN001
    nearest = _spark_match(
        spark_session, ztf, mangrove, "mangrove", 60.0, nearest=True, columns=["2MASS_name", "lum_dist"]
    )
    expected = _astropy_nearest(ztf, mangrove, 60.0)
    assert len(expected) > 10
    _assert_same(_ours(nearest), expected)
    everything = _spark_match(spark_session, ztf, mangrove, "mangrove", 60.0, nearest=False)
    _assert_same(_ours(everything), _astropy_all(ztf, mangrove, 60.0))
    assert everything.num_rows >= nearest.num_rows
    # the chosen columns come back with each match, as the source has them
    cat = DeltaTable(mangrove).to_pandas(columns=["id", "lum_dist", "c_2MASS_name"]).drop_duplicates("id")
    by_id = cat.set_index("id")
    for row in nearest.to_pylist()[:10]:
        cols = dict(row["columns"])
        assert float(cols["lum_dist"]) == pytest.approx(
            float(by_id.loc[row["match_id"], "lum_dist"]), rel=1e-12
        )
        assert set(cols) == {"2MASS_name", "lum_dist"}


def test_rubin_positions_match_like_astropy(spark_session, rubin: pa.Table, vsx_near: str) -> None:  # noqa: ANN001
    assert rubin.num_rows > 50
    result = _spark_match(spark_session, rubin, vsx_near, "vsx", 120.0, nearest=False)
    expected = _astropy_all(rubin, vsx_near, 120.0)
    assert len(expected) > 0
    _assert_same(_ours(result), expected)
    assert set(result["survey"].to_pylist()) == {"rubin"}
