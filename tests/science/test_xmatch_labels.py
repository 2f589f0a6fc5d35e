"""Catalog labels in the streaming path: the in-memory pixel index equals astropy and the Spark join."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky
from deltalake import DeltaTable
from xmatch_inputs import near, rubin_positions, ztf_positions

from siskin.config import Settings
from siskin.science.modules.catalog_labels import (
    MANGROVE_FIELDS,
    CatalogLabels,
    RubinCatalogLabels,
    cached_catalog,
    clear_cache,
)
from siskin.science.runner import run_modules
from siskin.science.xmatch.catalogs import catalog_uri, load_catalog
from siskin.science.xmatch.index import SkyIndex, separation_arcsec

SEP_TOL_ARCSEC = 1e-6
FS = "catalogs/fink-science"


@pytest.fixture(scope="module")
def ztf(shared_data: Path) -> pa.Table:
    return ztf_positions(shared_data / "ztf" / "alerts")


@pytest.fixture(scope="module")
def rubin(shared_data: Path) -> pa.Table:
    return rubin_positions(shared_data / "lsst")


def _peer_labels(shared_data: Path) -> pa.Table:
    """500 real alerts with the peer broker's labels (its catalog labels as text)."""
    names = ("vsx", "gcvs", "spicy_class", "x3hsp", "x4lac", "mangrove", "cdsxmatch", "DR3Name")
    return pacsv.read_csv(
        shared_data / "taxonomy/simbad_cdsxmatch_labels_from_fink_processed_ztf_alerts.csv",
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}),
    )


@pytest.fixture(scope="module")
def lake(
    shared_data: Path, ztf: pa.Table, rubin: pa.Table, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A lake with the real catalogs (VSX: its rows within 0.1 deg of a real alert, to stay fast)."""
    settings = Settings(lake=tmp_path_factory.mktemp("labels") / "lake")
    labelled = _peer_labels(shared_data).select(["ra", "dec"])
    positions = pa.concat_tables([ztf.select(["ra", "dec"]), rubin.select(["ra", "dec"]), labelled])
    part = near(shared_data / FS / "vsx.parquet", "RAJ2000", "DEJ2000", positions, 0.1)
    vsx_path = tmp_path_factory.mktemp("vsx") / "vsx_near.parquet"
    pq.write_table(part, vsx_path)
    load_catalog(settings, vsx_path, "vsx")
    load_catalog(settings, shared_data / FS / "mangrove_filtered.parquet", "mangrove")
    load_catalog(settings, shared_data / FS / "gcvs.parquet", "gcvs")
    load_catalog(settings, shared_data / FS / "3hsp.csv", "3hsp")
    load_catalog(settings, shared_data / FS / "table-4LAC-DR3-h.fits", "4lac_h")
    load_catalog(settings, shared_data / FS / "table-4LAC-DR3-l.fits", "4lac_l")
    load_catalog(settings, shared_data / FS / "spicy.parquet", "spicy")
    clear_cache()
    return settings


def _module(cls: type[CatalogLabels] | type[RubinCatalogLabels], settings: Settings) -> CatalogLabels:
    module = cls()
    module.bind(settings)
    return module  # type: ignore[return-value]


def _astropy_nearest(positions: pa.Table, uri: str, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(catalog row index or -1, separation) per position, by astropy's match_coordinates_sky."""
    cat = DeltaTable(uri).to_pyarrow_table(columns=["ra", "dec"])
    idx, sep, _ = match_coordinates_sky(
        SkyCoord(positions["ra"].to_numpy() * u.deg, positions["dec"].to_numpy() * u.deg),
        SkyCoord(cat["ra"].to_numpy() * u.deg, cat["dec"].to_numpy() * u.deg),
    )
    inside = sep.arcsec <= radius
    return np.where(inside, idx, -1), np.where(inside, sep.arcsec, np.nan)


def _expected_text(uri: str, rows: np.ndarray, column: str, missing: str) -> list[str]:
    values = DeltaTable(uri).to_pyarrow_table(columns=[column]).column(column).to_pylist()
    return [missing if r < 0 else ("" if values[r] is None else str(values[r]).strip()) for r in rows]


def _same_or_tied(
    uri: str, ours: list[str], theirs: list[str], rows: np.ndarray, positions: pa.Table
) -> None:
    """Labels equal, except where two catalog rows lie at exactly the same separation (a tie)."""
    cat = DeltaTable(uri).to_pyarrow_table(columns=["ra", "dec"])
    ra, dec = cat["ra"].to_numpy(), cat["dec"].to_numpy()
    for i in np.flatnonzero(np.array(ours, dtype=object) != np.array(theirs, dtype=object)):
        assert rows[i] >= 0, (i, ours[i], theirs[i])
        p_ra, p_dec = positions["ra"][i].as_py(), positions["dec"][i].as_py()
        seps = separation_arcsec(np.full(len(ra), p_ra), np.full(len(ra), p_dec), ra, dec)
        assert np.sum(np.abs(seps - seps[rows[i]]) < SEP_TOL_ARCSEC) > 1, (i, ours[i], theirs[i])


def test_ztf_vsx_and_mangrove_labels_equal_match_coordinates_sky(lake: Settings, ztf: pa.Table) -> None:
    out = run_modules(ztf, [_module(CatalogLabels, lake)], keys=["candid"])
    vsx_uri = catalog_uri(lake, "vsx")
    rows, _ = _astropy_nearest(ztf, vsx_uri, 1.5)
    assert (rows >= 0).sum() > 50  # real alerts on known variable stars
    expected = _expected_text(vsx_uri, rows, "type", "Unknown")
    _same_or_tied(vsx_uri, out["vsx"].to_pylist(), expected, rows, ztf)
    assert out["vsx"].null_count == 0
    mangrove_uri = catalog_uri(lake, "mangrove")
    rows, _ = _astropy_nearest(ztf, mangrove_uri, 60.0)
    assert (rows >= 0).sum() > 10
    ours = out["mangrove"].combine_chunks()
    for name, column in zip(
        MANGROVE_FIELDS, ["HyperLEDA_name", "c_2MASS_name", "lum_dist", "ang_dist"], strict=True
    ):
        expected = _expected_text(mangrove_uri, rows, column, "None")
        _same_or_tied(mangrove_uri, ours.field(name).to_pylist(), expected, rows, ztf)
    assert out["catalog_labels_version"][0].as_py() == CatalogLabels.version


def test_small_catalog_labels_follow_the_peer_convention(lake: Settings, ztf: pa.Table) -> None:
    out = _module(CatalogLabels, lake).compute(ztf)
    for label, name, column, radius in [
        ("gcvs", "gcvs", "type", 1.5),
        ("x3hsp", "3hsp", "id", 60.0),
        ("spicy_class", "spicy", "type", 1.2),
    ]:
        uri = catalog_uri(lake, name)
        rows, _ = _astropy_nearest(ztf, uri, radius)
        expected = _expected_text(uri, rows, column, "Unknown")
        _same_or_tied(uri, out[label].to_pylist(), expected, rows, ztf)
    # 4LAC is its high- and low-latitude tables together: the nearer of the two
    both = [catalog_uri(lake, "4lac_h"), catalog_uri(lake, "4lac_l")]
    best: list[tuple[float, str]] = [(np.inf, "Unknown")] * ztf.num_rows
    for uri in both:
        rows, sep = _astropy_nearest(ztf, uri, 60.0)
        names = _expected_text(uri, rows, "id", "Unknown")
        best = [
            (s, n) if r >= 0 and s < b[0] else b for r, s, n, b in zip(rows, sep, names, best, strict=True)
        ]
    assert out["x4lac"].to_pylist() == [n for _, n in best]
    spicy_ids = out["spicy_id"].to_numpy()
    assert ((spicy_ids == -1) == (np.array(out["spicy_class"].to_pylist()) == "Unknown")).all()
    assert all(isinstance(v, str) and v for v in out["gcvs"].to_pylist())


def test_index_equals_the_spark_join(spark_session, lake: Settings, ztf: pa.Table) -> None:  # noqa: ANN001
    from siskin.lake.engine import get_engine
    from siskin.science.xmatch.join import crossmatch

    uri = catalog_uri(lake, "vsx")
    cat = get_engine("delta-rs").read(spark_session, uri)
    joined = crossmatch(spark_session.createDataFrame(ztf), cat, name="vsx", radius_arcsec=1.5, nearest=True)
    spark = {r["candid"]: (r["match_id"], r["sep_arcsec"]) for r in joined.toArrow().to_pylist()}
    cached = cached_catalog(uri, 1.5, 60.0)
    assert cached is not None
    rows, seps = cached.index.nearest(ztf["ra"].to_numpy(), ztf["dec"].to_numpy())
    ids = cached.columns.column("id").to_pylist()
    ours = {c: (ids[r], s) for c, r, s in zip(ztf["candid"].to_pylist(), rows, seps, strict=True) if r >= 0}
    assert len(ours) > 50
    assert set(ours) == set(spark)
    for candid, (match_id, sep) in ours.items():
        assert abs(sep - spark[candid][1]) < SEP_TOL_ARCSEC
        assert match_id == spark[candid][0] or abs(sep - spark[candid][1]) < SEP_TOL_ARCSEC


def test_rubin_twin_reads_rubin_positions(lake: Settings, rubin: pa.Table) -> None:
    wide = Settings(lake=lake.lake, science={"catalogs": {"vsx": {"radius_arcsec": 120.0, "type": "VType"}}})
    out = _module(RubinCatalogLabels, wide).compute(rubin)
    uri = catalog_uri(lake, "vsx")
    rows, _ = _astropy_nearest(rubin, uri, 120.0)
    assert (rows >= 0).sum() > 0  # real Rubin alerts near VSX stars at 2'
    _same_or_tied(uri, out["vsx"].to_pylist(), _expected_text(uri, rows, "type", "Unknown"), rows, rubin)


def test_absent_catalog_gives_nulls_and_one_warning(tmp_path: Path, ztf: pa.Table, caplog) -> None:  # noqa: ANN001
    clear_cache()
    module = _module(CatalogLabels, Settings(lake=tmp_path / "empty"))
    with caplog.at_level(logging.WARNING):
        first = run_modules(ztf.slice(0, 20), [module])
        second = run_modules(ztf.slice(20, 20), [module])
    for out in (first, second):
        for label in ("vsx", "gcvs", "mangrove", "x3hsp", "x4lac", "spicy_id", "spicy_class"):
            assert out[label].null_count == out.num_rows
    warned = [r.getMessage() for r in caplog.records if "not in the lake" in r.getMessage()]
    assert len(warned) == 7  # once per missing table (4LAC has two), not once per batch
    clear_cache()


def test_a_reloaded_catalog_is_read_again(tmp_path: Path, shared_data: Path) -> None:
    clear_cache()
    settings = Settings(lake=tmp_path / "lake")
    gcvs = pq.read_table(shared_data / FS / "gcvs.parquet")
    star = gcvs.slice(0, 1).to_pylist()[0]
    positions = pa.table({"ra": [star["ra"]], "dec": [star["dec"]]})
    first_path, second_path = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(gcvs.slice(0, 100), first_path)
    pq.write_table(gcvs.slice(1, 100), second_path)  # the first star is gone
    module = CatalogLabels({"refresh_seconds": 0})
    module.bind(settings)
    load_catalog(settings, first_path, "gcvs")
    assert module.compute(positions)["gcvs"].to_pylist() == [star["VarType"].strip()]
    load_catalog(settings, second_path, "gcvs")
    assert module.compute(positions)["gcvs"].to_pylist() == ["Unknown"]
    clear_cache()


def test_index_across_the_ra_wrap_and_the_poles() -> None:
    rng = np.random.default_rng(7)
    centres = [(0.0, 10.0), (359.9999, -5.0), (45.0, 89.9999), (200.0, -89.9995), (123.0, 0.0)]
    cat_ra, cat_dec = [], []
    for ra, dec in centres:
        cat_ra += list(ra + rng.normal(0, 2e-4, 40) / max(np.cos(np.radians(dec)), 1e-3))
        cat_dec += list(np.clip(dec + rng.normal(0, 2e-4, 40), -90, 90))
    cat_ra_a, cat_dec_a = np.mod(np.array(cat_ra), 360.0), np.array(cat_dec)
    index = SkyIndex.build(cat_ra_a, cat_dec_a, 1.5)
    q_ra = np.mod(np.array([c[0] for c in centres]) + rng.normal(0, 1e-4, 5), 360.0)
    q_dec = np.clip(np.array([c[1] for c in centres]) + rng.normal(0, 1e-4, 5), -90, 90)
    q_ra, q_dec = np.append(q_ra, [np.nan, 10.0]), np.append(q_dec, [0.0, 60.0])
    rows, seps = index.nearest(q_ra, q_dec)
    for i in range(len(q_ra)):
        brute = separation_arcsec(
            np.full(len(cat_ra_a), q_ra[i]), np.full(len(cat_ra_a), q_dec[i]), cat_ra_a, cat_dec_a
        )
        if not np.isfinite(q_ra[i]) or np.nanmin(brute) > 1.5:
            assert rows[i] == -1 and np.isnan(seps[i])
        else:
            assert rows[i] == int(np.nanargmin(brute)) and abs(seps[i] - np.nanmin(brute)) < 1e-9
    assert (rows[:5] >= 0).all()  # every centre has a catalog row within 1.5"


def test_labels_agree_with_the_peers_own_labels(lake: Settings, shared_data: Path) -> None:
    """Where the peer labelled an alert (147 of the 500), Siskin gives the same label, except where the
    peer's own request failed ("Fail 503": its VSX labels then came from the CDS service)."""
    import ast

    from siskin.science.compare import fields_label, label

    peer = _peer_labels(shared_data)
    out = _module(CatalogLabels, lake).compute(peer.select(["ra", "dec"]))
    for column in ("vsx", "gcvs", "spicy_class", "x3hsp", "x4lac"):
        theirs = peer[column].combine_chunks()
        labelled = np.array([v not in (None, "") for v in theirs.to_pylist()])
        failed = np.array([str(v).startswith("Fail") for v in theirs.to_pylist()])
        agree = label(out[column], theirs)
        assert labelled.sum() >= 140, column
        assert agree[labelled & ~failed].all(), column
        assert failed.sum() <= 3 and not agree[failed].any()  # the peer's Fail rows: disagreements it caused
    records = [dict(ast.literal_eval(v)) if v else None for v in peer["mangrove"].to_pylist()]
    theirs_struct = pa.array(records, out["mangrove"].type)
    labelled = np.array([r is not None for r in records])
    agree = fields_label(out["mangrove"], theirs_struct)
    assert labelled.sum() >= 140 and agree[labelled].all()
    matched = [r for r in records if r and r["HyperLEDA_name"] != "None"]
    assert len(matched) >= 1  # a real Mangrove host (HyperLEDA 53559), equal field by field as text


def test_labels_computed_inside_spark_tasks(spark_session, lake: Settings, ztf: pa.Table) -> None:  # noqa: ANN001
    """Each Python worker binds the module and reads the catalogs itself, as the silver stage does."""
    lake_path = str(lake.lake)

    def label(batches):  # noqa: ANN001, ANN202 - runs in a Spark Python worker
        from siskin.config import Settings as WorkerSettings
        from siskin.science.modules.catalog_labels import CatalogLabels as Worker

        module = Worker()
        module.bind(WorkerSettings(lake=lake_path))
        for batch in batches:
            table = pa.Table.from_batches([batch])
            out = module.compute(table)
            yield pa.RecordBatch.from_pydict({"candid": table["candid"].combine_chunks(), "vsx": out["vsx"]})

    df = spark_session.createDataFrame(ztf.select(["candid", "ra", "dec"])).repartition(2)
    in_spark = df.mapInArrow(label, "candid long, vsx string").toArrow().sort_by("candid")
    here = _module(CatalogLabels, lake).compute(ztf)["vsx"]
    expected = dict(zip(ztf["candid"].to_pylist(), here.to_pylist(), strict=True))
    assert in_spark.num_rows == ztf.num_rows
    assert dict(zip(in_spark["candid"].to_pylist(), in_spark["vsx"].to_pylist(), strict=True)) == expected
    assert sum(v != "Unknown" for v in expected.values()) > 50


@pytest.mark.slow
def test_whole_vsx_index_equals_match_coordinates_sky(shared_data: Path, ztf: pa.Table) -> None:
    """All 1.93 M VSX rows, indexed straight from the file, against astropy on every real ZTF alert."""
    vsx = pq.read_table(shared_data / FS / "vsx.parquet", columns=["RAJ2000", "DEJ2000"])
    ra, dec = vsx["RAJ2000"].to_numpy(), vsx["DEJ2000"].to_numpy()
    index = SkyIndex.build(ra, dec, 1.5)
    rows, seps = index.nearest(ztf["ra"].to_numpy(), ztf["dec"].to_numpy())
    idx, sep, _ = match_coordinates_sky(
        SkyCoord(ztf["ra"].to_numpy() * u.deg, ztf["dec"].to_numpy() * u.deg),
        SkyCoord(ra * u.deg, dec * u.deg),
    )
    inside = sep.arcsec <= 1.5
    assert inside.sum() > 50
    assert ((rows >= 0) == inside).all()
    assert np.abs(seps[inside] - sep.arcsec[inside]).max() < SEP_TOL_ARCSEC
    same = rows[inside] == idx[inside]
    assert same.mean() > 0.9  # the rest are exact ties (VSX lists some stars twice at one position)
    for r, i in zip(rows[inside][~same], idx[inside][~same], strict=True):
        assert separation_arcsec(ra[r], dec[r], ra[i], dec[i]) < SEP_TOL_ARCSEC


def test_the_silver_stage_runs_the_labels(lake: Settings, shared_data: Path) -> None:
    """Through the silver stage's own path (enabled, bound, checked against the silver schema, run)."""
    from siskin.science import enrich
    from siskin.science.compare import load

    settings = Settings(lake=lake.lake, science={"modules": ["catalog_labels", "rubin_catalog_labels"]})
    assert [m.name for m in enrich.enabled_modules(settings, "rubin")] == ["rubin_catalog_labels"]
    modules = enrich.enabled_modules(settings, "ztf")
    assert [m.name for m in modules] == ["catalog_labels"]
    item = load(shared_data / "ztf/fink_processed/fink-science/datatest" / _first_parquet(shared_data))
    assert item is not None and item.alerts.num_rows > 50
    columns = enrich.science_columns(item.alerts, modules)
    assert set(columns) == {o.name for o in CatalogLabels.outputs} | {"catalog_labels_version"}
    assert columns["vsx"].null_count == 0 and columns["mangrove"].null_count == 0
    direct = _module(CatalogLabels, lake).compute(item.alerts)
    assert columns["gcvs"].to_pylist() == direct["gcvs"].to_pylist()


def _first_parquet(shared_data: Path) -> str:
    return sorted(
        p.name for p in (shared_data / "ztf/fink_processed/fink-science/datatest").glob("*.parquet")
    )[0]
