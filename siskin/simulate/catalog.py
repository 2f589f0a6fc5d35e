"""The catalogs of the simulated sky: its variable stars (as VSX lists them) and its supernova hosts.

The simulator knows what produced each alert, so it can write what a real sky's catalogs would
hold: the RR Lyrae and long-period variables it observed (VSX-style types `RRAB`, `M`), and a host
galaxy a few arcseconds from each supernova (Mangrove-style names and distances). Loaded into the
lake as `catalogs.sim_variables` and `catalogs.sim_galaxies`, they make the demo's cross-match labels
real matches. They are simulated: a demo aid, never a science catalog.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from siskin.simulate.nights import night_detections
from siskin.simulate.population import Kind, Population
from siskin.simulate.schedule import night_id

VARIABLE_TYPES = {Kind.RRLYR: "RRAB", Kind.LPV: "M"}
HOST_OFFSET_ARCSEC = (1.0, 8.0)  # supernova to host-galaxy centre


def _objects(night: int, n_alerts: int, seed: int) -> dict[str, np.ndarray]:
    """One row per simulated object seen on the night: key, kind, mean position."""
    alerts, _ = night_detections(Population(seed=seed, n_alerts=n_alerts), night_id(night))
    keys, first, inverse = np.unique(alerts["key"], return_index=True, return_inverse=True)
    counts = np.bincount(inverse)
    ra = np.bincount(inverse, weights=alerts["ra"]) / counts
    dec = np.bincount(inverse, weights=alerts["dec"]) / counts
    return {"key": keys, "kind": alerts["kind"][first], "ra": ra, "dec": dec}


def simulated_catalogs(night: int, *, n_alerts: int, seed: int = 42) -> dict[str, pa.Table]:
    """`sim_variables` (ra, dec, name, VType) and `sim_galaxies` (ra, dec, HyperLEDA_name, 2MASS_name,
    lum_dist, ang_dist) for the objects of the night `simulate_night` makes with the same arguments."""
    objs = _objects(night, n_alerts, seed)
    kinds = objs["kind"]
    variable = np.isin(kinds, [int(k) for k in VARIABLE_TYPES])
    types = np.where(kinds[variable] == int(Kind.RRLYR), VARIABLE_TYPES[Kind.RRLYR], VARIABLE_TYPES[Kind.LPV])
    variables = pa.table(
        {
            "ra": objs["ra"][variable],
            "dec": objs["dec"][variable],
            "name": [f"SIM V{k}" for k in objs["key"][variable]],
            "VType": types,
        }
    )
    sn = kinds == int(Kind.SN)
    rng = np.random.default_rng(seed + 7)
    n = int(sn.sum())
    offset = rng.uniform(*HOST_OFFSET_ARCSEC, n) / 3600.0
    angle = rng.uniform(0.0, 2 * np.pi, n)
    dec = np.clip(objs["dec"][sn] + offset * np.sin(angle), -90.0, 90.0)
    ra = (objs["ra"][sn] + offset * np.cos(angle) / np.cos(np.radians(dec))) % 360.0
    lum = rng.uniform(40.0, 400.0, n)
    galaxies = pa.table(
        {
            "ra": ra,
            "dec": dec,
            "HyperLEDA_name": [f"SIM G{k}" for k in objs["key"][sn]],
            "2MASS_name": [f"SIM J{k}" for k in objs["key"][sn]],
            "lum_dist": lum,
            "ang_dist": lum / 1.05,
        }
    )
    return {"sim_variables": variables, "sim_galaxies": galaxies}


def write_simulated_catalogs(folder: Path, night: int, *, n_alerts: int, seed: int = 42) -> dict[str, Path]:
    """The simulated catalogs as Parquet files in `folder`, by catalog name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in simulated_catalogs(night, n_alerts=n_alerts, seed=seed).items():
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths
