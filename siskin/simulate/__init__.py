"""Simulated ZTF alerts (schema 4.02) for demos and benchmarks: deterministic, realistic, fast.

A seeded sky of variable stars, AGN, supernovae, microlensing events, asteroids and artefacts is
observed night by night with a ZTF-like cadence; each detection becomes an Avro container payload as
ZTF publishes it, with a 30-day history consistent with the earlier simulated nights.
"""

from siskin.simulate.population import Kind
from siskin.simulate.run import candid_of, parse_rate, write_tarball, write_to_dir
from siskin.simulate.ztf import simulate_night, simulate_night_records

__all__ = [
    "Kind",
    "candid_of",
    "parse_rate",
    "simulate_night",
    "simulate_night_records",
    "write_tarball",
    "write_to_dir",
]
