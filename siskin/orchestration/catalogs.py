"""The `catalogs` DAG's steps: load or refresh reference catalogs, then cross-match the whole history."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from siskin.config import Settings
from siskin.errors import ConfigurationError

Summary = dict[str, Any]


def load_files(settings: Settings, files: Mapping[str, str]) -> Summary:
    """Load each {name: file} into `catalogs.<name>` (replacing it), with its provenance."""
    from siskin.science.xmatch.catalogs import load_catalog

    started = time.monotonic()
    loaded = {name: load_catalog(settings, Path(path), name).rows for name, path in sorted(files.items())}
    return {"loaded": loaded, "seconds": round(time.monotonic() - started, 3)}


def refresh_changed(settings: Settings) -> Summary:
    """Reload every loaded catalog whose source file changed since it was loaded (sha256), as it was read."""
    from siskin.science.xmatch.catalogs import list_catalogs, load_catalog, sha256_file

    started = time.monotonic()
    refreshed: dict[str, int] = {}
    missing: list[str] = []
    for row in list_catalogs(settings).to_pylist():
        source = Path(row["source_file"])
        if not source.is_file():
            missing.append(row["name"])
            continue
        if sha256_file(source) == row["sha256"]:
            continue
        columns = {"ra": row["ra_column"], "dec": row["dec_column"], "type": row["type_column"]}
        if row["coordinates"] == "rad":
            columns["unit"] = "rad"
        refreshed[row["name"]] = load_catalog(settings, source, row["name"], **columns).rows
    if missing:
        raise ConfigurationError(
            f"source files of catalogs {missing} are gone: load them again with `siskin catalogs load`"
        )
    return {"refreshed": refreshed, "seconds": round(time.monotonic() - started, 3)}


def xmatch_history(settings: Settings, names: Sequence[str] | None = None) -> Summary:
    """Cross-match every night in the lake with the named catalogs (default: every loaded one)."""
    from siskin.orchestration.nightly import loaded_catalogs
    from siskin.science.xmatch.join import run_xmatch

    started = time.monotonic()
    known = loaded_catalogs(settings)
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise ConfigurationError(f"catalogs {unknown} are not loaded (loaded: {known or 'none'})")
    runs = {name: run_xmatch(settings, name) for name in (names or known)}
    return {
        "catalogs": {
            n: {"nights": len(r.nights), "alerts": r.alerts, "matches": r.matches} for n, r in runs.items()
        },
        "seconds": round(time.monotonic() - started, 3),
    }
