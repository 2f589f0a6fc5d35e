"""Catalog loader: every real catalog in ../shared/data/catalogs, per format, normalised with provenance."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.errors import ConfigurationError, LakeError
from siskin.science.xmatch.catalogs import _from_sexagesimal, catalog_uri, list_catalogs, load_catalog

# (catalog name, file under catalogs/, source rows, expected id column, expected type column, coordinates)
REAL = [
    ("gcvs", "fink-science/gcvs.parquet", 59099, None, "VarType", "deg"),
    ("spicy", "fink-science/spicy.parquet", 117446, None, "class", "deg"),
    ("mangrove", "fink-science/mangrove_filtered.parquet", 295341, "HyperLEDA_name", None, "deg"),
    ("3hsp", "fink-science/3hsp.csv", 2013, "3HSP Source name", None, "sexagesimal"),
    ("4lac_h", "fink-science/table-4LAC-DR3-h.fits", 3407, "Source_Name", "CLASS", "deg"),
    ("4lac_l", "fink-science/table-4LAC-DR3-l.fits", 407, "Source_Name", "CLASS", "deg"),
    ("openngc", "openngc/ongc.db", 14033, "name", "type", "rad"),
    ("tde", "fink-filters/tde.parquet", 44, "name", None, "deg"),
    ("dwarf_agn", "fink-filters/list_dwarfs_AGN_RADEC.parquet", 16, "MaNGAID", None, "deg"),
    ("symbiotic_cv", "fink-filters/symbiotic_and_cataclysmic.parquet", 2857, "Name", None, "sexagesimal"),
    ("cv", "fink-filters/cataclysmic_variables_catalog.txt", 2119, "Name", None, "sexagesimal"),
    ("mcv", "fink-filters/magnetic_cataclysmic_variables.csv", 245, "Name", None, "sexagesimal"),
    ("symbiotic", "fink-filters/symbiotic_stars_catalog.txt", 738, "Name", None, "sexagesimal"),
    ("tns", "fink-science/tns_raw.parquet", 1, "name", "type", "deg"),
]

# Files in catalogs/ that hold no positions: a load must fail with a clear error, not guess.
NO_POSITIONS = [
    "fink-science/CTAO_blazars_ztf_dr22.parquet",
    "fink-science/CTAO_blazars_ztf_dr23.v03_2026.parquet",
    "fink-science/CTAO_blazars_ztf_dr23.v7_2025.parquet",
    "fink-filters/TDElist_Gezari2021.tsv",
    "fink-filters/Table1_Hammerstein",
    "fink-filters/log.txt",
]


@pytest.fixture(scope="module")
def catalogs_dir(shared_data: Path) -> Path:
    return shared_data / "catalogs"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(lake=tmp_path_factory.mktemp("catalogs") / "lake")


def _loaded(settings: Settings, name: str) -> pa.Table:
    return DeltaTable(catalog_uri(settings, name)).to_pyarrow_table()


@pytest.mark.parametrize(
    ("name", "rel", "rows", "id_col", "type_col", "coords"), REAL, ids=[r[0] for r in REAL]
)
def test_real_catalog_loads_normalised(
    lake: Settings,
    catalogs_dir: Path,
    name: str,
    rel: str,
    rows: int,
    id_col,
    type_col,
    coords: str,  # noqa: ANN001
) -> None:
    path = catalogs_dir / rel
    loaded = load_catalog(lake, path, name)
    table = _loaded(lake, name)
    assert loaded.rows + loaded.rows_dropped == rows
    assert table.num_rows == loaded.rows > 0
    assert table.column_names[:6] == ["ra", "dec", "id", "type", "hpx29", "row"]
    ra, dec = table["ra"].to_numpy(), table["dec"].to_numpy()
    assert np.all((ra >= 0) & (ra < 360)) and np.all((dec >= -90) & (dec <= 90))
    assert table["id"].null_count == 0
    prov = loaded.provenance
    assert prov["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["rows"] == loaded.rows and prov["source_file"] == str(path.resolve())
    assert prov["id_column"] == id_col and prov["type_column"] == type_col and prov["coordinates"] == coords
    if type_col is not None:
        assert table["type"].null_count < table.num_rows


def test_vsx_slice_loads_with_its_type(lake: Settings, catalogs_dir: Path, tmp_path: Path) -> None:
    """VSX (1.9 M rows; the whole file is a slow test): its first 50,000 rows, ids from the row number."""
    part = tmp_path / "vsx_head.parquet"
    source = pq.read_table(catalogs_dir / "fink-science/vsx.parquet").slice(0, 50_000)
    pq.write_table(source, part)
    loaded = load_catalog(lake, part, "vsx")
    table = _loaded(lake, "vsx")
    assert loaded.rows == 50_000 and loaded.provenance["type_column"] == "VType"
    assert table["id"][17].as_py() == "#17"
    assert table["type"][0].as_py() == source["VType"][0].as_py().strip()  # padded in the source
    np.testing.assert_array_equal(table["ra"].to_numpy(), source["RAJ2000"].to_numpy())


@pytest.mark.slow
def test_whole_vsx_loads(lake: Settings, catalogs_dir: Path) -> None:
    loaded = load_catalog(lake, catalogs_dir / "fink-science/vsx.parquet", "vsx_full")
    assert loaded.rows == 1_933_544 and loaded.rows_dropped == 0


def test_sexagesimal_csv_with_padded_headers(lake: Settings, catalogs_dir: Path) -> None:
    """3HSP: ` , `-separated, quoted cells, padded headers; first row is 00 01 16.37 +29 35 34.0."""
    load_catalog(lake, catalogs_dir / "fink-science/3hsp.csv", "3hsp")
    first = _loaded(lake, "3hsp").slice(0, 1).to_pylist()[0]
    assert first["id"] == "3HSPJ000116.4+293534"
    assert math.isclose(first["ra"], (0 + 1 / 60 + 16.37 / 3600) * 15, abs_tol=1e-12)
    assert math.isclose(first["dec"], 29 + 35 / 60 + 34.0 / 3600, abs_tol=1e-12)
    assert first["R_A"] == "00 01 16.37"  # the source column kept, under a Delta-safe name


def test_openngc_radians_become_degrees(lake: Settings, catalogs_dir: Path) -> None:
    db = catalogs_dir / "openngc/ongc.db"
    load_catalog(lake, db, "openngc")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    name, ra, dec = con.execute("SELECT name, ra, dec FROM objects WHERE name = 'NGC0224'").fetchone()
    con.close()
    table = _loaded(lake, "openngc").to_pandas().set_index("id")
    assert math.isclose(table.loc[name, "ra"], math.degrees(ra), rel_tol=1e-12)
    assert math.isclose(table.loc[name, "dec"], math.degrees(dec), rel_tol=1e-12)
    assert 10.6 < table.loc["NGC0224", "ra"] < 10.7  # M31


def test_fits_table_reads_big_endian_columns(lake: Settings, catalogs_dir: Path) -> None:
    from astropy.table import Table

    path = catalogs_dir / "fink-science/table-4LAC-DR3-h.fits"
    load_catalog(lake, path, "4lac_h")
    expect = Table.read(path, hdu=1)
    table = _loaded(lake, "4lac_h")
    np.testing.assert_allclose(table["ra"].to_numpy(), np.asarray(expect["RAJ2000"], dtype=np.float64))
    assert table["id"].to_pylist()[:3] == [s.strip() for s in expect["Source_Name"][:3]]


@pytest.mark.parametrize("rel", NO_POSITIONS)
def test_files_without_positions_are_refused_clearly(lake: Settings, catalogs_dir: Path, rel: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_catalog(lake, catalogs_dir / rel, "nopos")
    assert str(catalogs_dir / rel) in str(info.value) or "column" in str(info.value)


def test_reload_replaces_and_list_shows_provenance(tmp_path: Path, catalogs_dir: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    path = catalogs_dir / "fink-science/table-4LAC-DR3-l.fits"
    load_catalog(settings, path, "lac")
    load_catalog(settings, path, "lac")
    assert _loaded(settings, "lac").num_rows == 407
    listed = list_catalogs(settings).to_pylist()
    assert (
        [r["name"] for r in listed] == ["lac"] and listed[0]["rows"] == 407 and listed[0]["format"] == "fits"
    )
    with pytest.raises(LakeError, match="not loaded"):
        catalog_uri(settings, "vsx")


def test_explicit_columns_and_bad_names(tmp_path: Path, catalogs_dir: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    path = catalogs_dir / "fink-science/mangrove_filtered.parquet"
    loaded = load_catalog(settings, path, "m2", id="2MASS_name", type="lum_dist")
    assert loaded.provenance["id_column"] == "2MASS_name"
    with pytest.raises(ConfigurationError, match="no such column"):
        load_catalog(settings, path, "m3", ra="nope")
    with pytest.raises(ConfigurationError, match="catalog name"):
        load_catalog(settings, path, "Bad Name")


def test_sexagesimal_parsing() -> None:
    hours = _from_sexagesimal(pa.array(["00 01 16.37", "23:59:59.9", None, "junk", "12h30m00s"]), True)
    np.testing.assert_allclose(hours[[0, 1, 4]], [0.31820833333, 359.99958333333, 187.5], rtol=1e-10)
    assert np.isnan(hours[2]) and np.isnan(hours[3])
    degrees = _from_sexagesimal(pa.array(["+29 35 34.0", "-00 30 00", "-41 55 24.99", "+05"]), False)
    np.testing.assert_allclose(degrees, [29.5927777778, -0.5, -41.9236083333, 5.0], rtol=1e-10)
