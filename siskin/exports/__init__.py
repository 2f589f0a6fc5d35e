"""Nightly exports to collaborators: configured specs written as Parquet, CSV or VOTable, with a manifest.

`run_export(settings, "name", night)` writes one spec's night; `run_all(settings, night)` every spec's.
"""

from siskin.exports.manifest import Manifest, verify_export
from siskin.exports.run import run_all, run_export

__all__ = ["Manifest", "run_all", "run_export", "verify_export"]
