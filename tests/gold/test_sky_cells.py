"""Sky cells: one cell per position; a row is always found among the cells near any of its alerts."""

from __future__ import annotations

import numpy as np

from siskin.gold.cells import N_CELLS, SEARCH_MARGIN_ARCSEC, cell_bounds, cell_of, cells_near


def _sky(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 360.0, n), np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))


def test_each_position_lies_inside_the_bounds_of_its_cell() -> None:
    ra, dec = _sky(20000, 1)
    cells = cell_of(ra, dec)
    assert cells.min() >= 0 and cells.max() < N_CELLS
    for r, d, c in zip(ra[:2000], dec[:2000], cells[:2000], strict=True):
        ra_min, ra_max, dec_min, dec_max = cell_bounds(int(c))
        assert ra_min <= r < ra_max + 1e-9 and dec_min <= d <= dec_max


def test_cells_are_of_similar_area() -> None:
    ra, dec = _sky(400_000, 2)
    counts = np.bincount(cell_of(ra, dec), minlength=N_CELLS)
    inner = counts[counts > 0]
    assert len(inner) > 0.95 * N_CELLS
    assert np.percentile(inner, 90) < 1.6 * np.median(inner)  # equal-area within rounding of ra cells


def test_every_point_within_the_margin_is_in_a_searched_cell() -> None:
    """A row placed at any alert of an object is found from any other alert within the margin."""
    rng = np.random.default_rng(3)
    ra, dec = _sky(5000, 3)
    # push half the positions onto cell edges, the poles and ra = 0 / 360, where misses would happen
    edges = np.array([cell_bounds(int(c)) for c in cell_of(ra[:1000], dec[:1000])])
    dec[:1000] = edges[:, 2] + rng.normal(0.0, 1e-4, 1000)
    ra[1000:1500] = rng.choice([0.0, 359.99999, 1e-6], 500)
    dec[1500:1600] = rng.choice([89.9999, -89.9999], 100)
    margin = SEARCH_MARGIN_ARCSEC / 3600.0
    for k in range(8):
        theta = rng.uniform(0.0, 2.0 * np.pi, len(ra))
        r = margin * np.sqrt(rng.uniform(0.0, 0.98, len(ra)))
        d2 = np.clip(dec + r * np.sin(theta), -90.0, 90.0)
        r2 = ra + r * np.cos(theta) / np.maximum(np.cos(np.radians(dec)), 1e-9)
        moved = cell_of(r2, d2)
        for i in range(len(ra)):
            if moved[i] != cell_of(ra[i], dec[i]):
                assert moved[i] in cells_near([ra[i]], [dec[i]]), (ra[i], dec[i], r2[i], d2[i], k)


def test_a_field_meets_a_handful_of_cells() -> None:
    rng = np.random.default_rng(4)
    r = 1.75 * np.sqrt(rng.uniform(0, 1, 10000))
    theta = rng.uniform(0, 2 * np.pi, 10000)
    dec = -30.0 + r * np.sin(theta)
    ra = 150.0 + r * np.cos(theta) / np.cos(np.radians(-30.0))
    assert 1 <= len(cells_near(ra, dec)) <= 9
    assert len(cells_near([np.nan], [1.0])) == 0
