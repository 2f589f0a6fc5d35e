"""Compatibility names for the table catalog (`siskin.lake.catalog` declares every table)."""

from siskin.lake.catalog import (
    BRONZE_SCHEMA,
    OPS_BATCHES_SCHEMA,
    PROVENANCE_FIELDS,
    UTC_TS,
    checkpoint_path,
    table_path,
)

__all__ = [
    "BRONZE_SCHEMA",
    "OPS_BATCHES_SCHEMA",
    "PROVENANCE_FIELDS",
    "UTC_TS",
    "checkpoint_path",
    "table_path",
]
