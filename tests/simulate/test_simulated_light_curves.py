"""Each class of simulated object varies the way its real counterparts do."""

from __future__ import annotations

import numpy as np

from siskin.simulate.population import KEY_BASE, Kind, Population, draw, magnitudes, objects_for_night
from siskin.simulate.schedule import night_id

SEED = 3


def _curve(kind: Kind, jd: np.ndarray, fid: int = 2, **params: float) -> np.ndarray:
    """Magnitudes of one object of `kind` (params overriding its drawn ones) at epochs `jd`."""
    day = np.array([night_id(20231001)]) if kind in (Kind.SN, Kind.ULENS) else None
    obj = draw(SEED, kind, np.array([KEY_BASE[kind] + 12]), day=day)
    obj |= {name: np.array([value]) for name, value in params.items()}
    rows = {name: np.repeat(col, len(jd)) for name, col in obj.items()}
    mag, _ = magnitudes(SEED, rows, jd, np.full(len(jd), fid))
    return mag


def test_supernovae_rise_in_about_two_weeks_then_fade_by_3_hundredths_of_a_mag_a_day() -> None:
    t0 = 2460200.0
    days = np.arange(1.0, 80.0)
    mag = _curve(Kind.SN, t0 + days, t0=t0, m0=18.5, p1=15.0, p2=0.03)
    peak = days[np.argmin(mag)]
    assert 14 <= peak <= 16 and mag.min() == 18.5
    assert np.allclose(np.diff(mag[days > 20]), 0.03)
    assert _curve(Kind.SN, np.array([t0 - 1.0]), t0=t0)[0] == np.inf


def test_rr_lyrae_repeat_with_their_period() -> None:
    jd = 2460200.0 + np.linspace(0.0, 3.0, 200)
    mag = _curve(Kind.RRLYR, jd, p1=0.55, p2=0.8)
    again = _curve(Kind.RRLYR, jd + 0.55, p1=0.55, p2=0.8)
    assert np.allclose(mag, again)
    assert 0.75 < mag.max() - mag.min() <= 0.8 + 1e-9


def test_microlensing_peaks_symmetrically_at_t0() -> None:
    t0 = 2460200.0
    offsets = np.linspace(-60.0, 60.0, 121)
    mag = _curve(Kind.ULENS, t0 + offsets, t0=t0, p1=20.0, p2=0.1, m0=19.0)
    assert offsets[np.argmin(mag)] == 0.0
    assert np.allclose(mag, mag[::-1])
    assert mag.min() < 19.0 - 2.0


def test_agn_wander_with_the_asked_variability() -> None:
    jd = 2458500.0 + np.arange(0.0, 3000.0, 3.0)
    mag = _curve(Kind.AGN, jd, m0=19.0, p2=0.2, p1=200.0)
    assert 0.1 < np.std(mag) < 0.3
    assert abs(np.mean(mag) - 19.0) < 0.15


def test_asteroids_move_along_the_sky_from_night_to_night() -> None:
    pop = Population(seed=SEED, n_alerts=200)
    first = objects_for_night(pop, night_id(20231018))[-1]
    second = objects_for_night(pop, night_id(20231019))[-1]
    row2 = {hid: i for i, hid in enumerate(second["hid"].tolist())}
    moved = []
    for i in range(len(first["hid"])):
        j = row2.get(int(first["hid"][i]))
        if j is not None:
            dra = (first["ra"][i] - second["ra"][j] + 180.0) % 360.0 - 180.0
            ddec = first["dec"][i] - second["dec"][j]
            moved.append(np.hypot(dra * np.cos(np.radians(first["dec"][i])), ddec))
    assert moved
    assert np.all((np.array(moved) > 0.05) & (np.array(moved) < 0.5))
