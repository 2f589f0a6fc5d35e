"""dbt sources from the table catalog: the lake's silver and gold tables (and views), with freshness.

`models/staging/_sources.yml` is generated, never edited: `siskin marts sources` rewrites it, and a test
checks that the committed file matches the catalog. The marts' own tables (writer `marts`) are not sources.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from siskin.lake.catalog import tables, views

SOURCE_LAYERS = ("silver", "gold")
PROJECT_DIR = Path(__file__).resolve().parents[2] / "models"
SOURCES_FILE = PROJECT_DIR / "layers" / "staging" / "_sources.yml"
# The column that says when a row was loaded, per table, for `dbt source freshness`.
LOADED_AT = ("processed_at", "updated_at", "ingest_time", "matched_at", "created_at")
FRESHNESS = {"warn_after": {"count": 24, "period": "hour"}, "error_after": {"count": 72, "period": "hour"}}


def sources_document() -> dict:
    """The `sources:` document for the catalog's silver and gold tables and views."""
    groups: dict[str, list[dict]] = {layer: [] for layer in SOURCE_LAYERS}
    for spec in tables():
        if spec.layer not in groups or spec.writer == "marts":
            continue
        entry: dict = {"name": spec.short, "description": spec.description}
        names = spec.arrow_schema().names
        loaded = next((c for c in LOADED_AT if c in names), None)
        if loaded:
            entry["config"] = {"loaded_at_field": loaded, "freshness": copy.deepcopy(FRESHNESS)}
        if spec.key:
            entry["meta"] = {"key": list(spec.key)}
        groups[spec.layer].append(entry)
    for view in views():
        layer, short = view.name.split(".", 1)
        if layer in groups:
            groups[layer].append({"name": short, "description": view.description})
    for entries in groups.values():  # registration order depends on import order: sort by name
        entries.sort(key=lambda e: e["name"])
    return {
        "version": 2,
        "sources": [
            {
                "name": layer,
                "schema": layer,
                "description": f"The lake's {layer} layer (siskin table catalog)",
                "tables": entries,
            }
            for layer, entries in groups.items()
        ],
    }


def sources_yaml() -> str:
    """The generated `_sources.yml` text."""
    header = "# Generated from siskin/lake/catalog.py by `siskin marts sources`: do not edit.\n"
    return header + yaml.safe_dump(sources_document(), sort_keys=False, width=110)


def write_sources(path: Path = SOURCES_FILE) -> Path:
    """Rewrite the dbt sources file from the catalog."""
    path.write_text(sources_yaml())
    return path
