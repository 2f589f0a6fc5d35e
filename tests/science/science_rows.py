"""Synthetic silver rows for science-module tests, typed exactly as the silver tables type them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from siskin.alerts.decoder import rubin_alert_schema, silver_alert_schema


def ztf_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """A ZTF silver batch of the given rows: every silver column, absent values null.

    `prv_candidates` items may give only `jd` and `magpsf` (null `magpsf` = upper limit).
    """
    schema = silver_alert_schema("ztf")
    return pa.Table.from_pylist([_defaults(i) | r for i, r in enumerate(rows)], schema=schema)


def _defaults(i: int) -> dict[str, Any]:
    return {
        "_row": i,
        "night": 20260101,
        "survey": "ztf",
        "schema_version": "4.02",
        "objectId": f"ZTF26aaaa{i:04d}",
        "candid": 1000 + i,
        "jd": 2461000.5,
        "magpsf": 18.0,
    }


def rubin_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """A Rubin silver batch of the given rows: every silver column, absent values null."""
    schema = rubin_alert_schema()
    base = {"_row": 0, "night": 20260101, "survey": "rubin", "schema_version": "10.0"}
    return pa.Table.from_pylist(
        [base | {"_row": i, "diaSourceId": 5000 + i} | r for i, r in enumerate(rows)], schema=schema
    )
