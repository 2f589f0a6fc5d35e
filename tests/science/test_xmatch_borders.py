"""Matches across HEALPix pixel borders, at the poles and across RA 0/360 are not lost (synthetic pairs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from cdshealpix import nested

from siskin.config import Settings
from siskin.lake.engine import get_engine
from siskin.science.xmatch import healpix
from siskin.science.xmatch.catalogs import catalog_uri, load_catalog
from siskin.science.xmatch.join import crossmatch


def _alert_points(radius: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel corners and edge midpoints at the join's order, the poles, and the RA wrap."""
    order = healpix.order_for_radius(radius)
    pix = np.unique(
        np.concatenate(
            [
                rng.integers(0, 12 * 4**order, 60, dtype=np.int64),
                # pixels touching the poles and the base-pixel corners on the equator
                healpix.pixels(
                    np.array([0.0, 90, 180, 270, 45, 0, 0.0]),
                    np.array([89.99, 89.99, -89.99, -89.99, 0, 41.8, -41.8]),
                    order,
                ),
            ]
        )
    ).astype(np.uint64)
    lon, lat = nested.vertices(pix, order)
    ra, dec = lon.to_value(u.deg).ravel(), lat.to_value(u.deg).ravel()
    extra_ra = np.array([0.0, 359.9999999, 0.0000001, 0.0, 123.0, 0.0, 200.0])
    extra_dec = np.array([0.0, 10.0, -10.0, 90.0, 90.0, -90.0, -89.99999])
    return np.concatenate([ra, extra_ra]), np.concatenate([dec, extra_dec])


def _partners(ra: np.ndarray, dec: np.ndarray, radius: float, rng: np.random.Generator) -> SkyCoord:
    """Around each point: 8 sources just inside the radius, 8 just outside, in random directions."""
    centre = SkyCoord(np.repeat(ra, 16) * u.deg, np.repeat(dec, 16) * u.deg)
    factor = np.tile(np.r_[np.full(8, 0.999), np.full(8, 1.001)], len(ra))
    angle = rng.uniform(0, 360, len(centre)) * u.deg
    return centre.directional_offset_by(angle, factor * radius * u.arcsec)


@pytest.mark.parametrize("radius", [1.5, 60.0, 3600.0])
def test_pairs_straddling_pixel_borders_poles_and_wrap(
    spark_session,
    tmp_path: Path,
    radius: float,  # noqa: ANN001
) -> None:
    rng = np.random.default_rng(int(radius * 10))
    ra, dec = _alert_points(radius, rng)
    partners = _partners(ra, dec, radius, rng)
    cat_file = tmp_path / "partners.parquet"
    pq.write_table(
        pa.table(
            {"ra": partners.ra.deg, "dec": partners.dec.deg, "name": [f"s{i}" for i in range(len(partners))]}
        ),
        cat_file,
    )
    settings = Settings(lake=tmp_path / "lake")
    load_catalog(settings, cat_file, "partners")
    uri = catalog_uri(settings, "partners")
    alerts = pa.table(
        {
            "survey": ["ztf"] * len(ra),
            "candid": np.arange(len(ra), dtype=np.int64),
            "objectId": [f"o{i}" for i in range(len(ra))],
            "ra": ra,
            "dec": dec,
            "night": np.full(len(ra), 20260101, dtype=np.int32),
        }
    )
    cat = get_engine("delta-rs").read(spark_session, uri)
    result = crossmatch(
        spark_session.createDataFrame(alerts), cat, name="partners", radius_arcsec=radius, nearest=False
    ).toArrow()
    ours = set(zip(result["candid"].to_pylist(), result["match_id"].to_pylist(), strict=True))
    loaded = pa.Table.from_batches(cat.select("ra", "dec", "id").toArrow().to_batches())
    i_alert, i_cat, _, _ = search_around_sky(
        SkyCoord(ra * u.deg, dec * u.deg),
        SkyCoord(loaded["ra"].to_numpy() * u.deg, loaded["dec"].to_numpy() * u.deg),
        radius * u.arcsec,
    )
    ids = loaded["id"].to_pylist()
    theirs = {(int(a), ids[c]) for a, c in zip(i_alert, i_cat, strict=True)}
    assert len(theirs) >= 8 * len(ra)  # every alert keeps its 8 sources just inside the radius
    assert ours == theirs
    assert (result["sep_arcsec"].to_numpy() <= radius).all()


def test_neighbour_block_covers_the_radius_everywhere() -> None:
    """Numpy only: a source within the radius always lies in the alert's 3x3 pixel block (20k pairs)."""
    rng = np.random.default_rng(7)
    for radius in (0.5, 1.5, 60.0, 600.0, 7200.0):
        order = healpix.order_for_radius(radius)
        n = 20_000
        ra = rng.uniform(0, 360, n)
        dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
        partner = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
            rng.uniform(0, 360, n) * u.deg, 0.9999 * radius * u.arcsec
        )
        target = healpix.pixels(partner.ra.deg, partner.dec.deg, order)
        rows, pix = healpix.with_neighbours(ra, dec, order)
        found = np.zeros(n, dtype=bool)
        found[rows[pix == target[rows]]] = True
        assert found.all(), (radius, order, int((~found).sum()))


def test_radius_too_large_is_refused() -> None:
    from siskin.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="too large"):
        healpix.order_for_radius(20 * 3600.0)
    with pytest.raises(ConfigurationError, match="positive"):
        healpix.order_for_radius(0.0)
