"""The tables the cross-match writes, declared in the lake's table catalog (schemas only: cheap to import)."""

from __future__ import annotations

import pyarrow as pa

from siskin.lake.catalog import UTC_TS, TableSpec, register

INDEX_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("table", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("format", pa.string()),
        pa.field("rows", pa.int64()),
        pa.field("rows_dropped", pa.int64()),
        pa.field("load_time", UTC_TS),
        pa.field("ra_column", pa.string()),
        pa.field("dec_column", pa.string()),
        pa.field("id_column", pa.string()),
        pa.field("type_column", pa.string()),
        pa.field("coordinates", pa.string()),  # "deg", "rad" or "sexagesimal"
    ]
)

CATALOG_INDEX = register(
    TableSpec(
        "catalogs.index",
        "one provenance row per loaded reference catalog (source file, sha256, rows, load time)",
        INDEX_SCHEMA,
        key=("name",),
        writer="catalogs",
    )
)


XMATCH_SCHEMA = pa.schema(
    [
        pa.field("survey", pa.string()),
        pa.field("candid", pa.int64()),  # ZTF candid or Rubin diaSourceId
        pa.field("objectId", pa.string()),  # ZTF objectId or Rubin diaObjectId (as text)
        pa.field("catalog", pa.string()),
        pa.field("match_id", pa.string()),
        pa.field("match_type", pa.string()),
        pa.field("sep_arcsec", pa.float64()),
        pa.field("match_ra", pa.float64()),
        pa.field("match_dec", pa.float64()),
        pa.field("radius_arcsec", pa.float64()),
        pa.field("columns", pa.map_(pa.string(), pa.string())),  # the catalog's chosen columns, as text
        pa.field("xmatch_time", UTC_TS),
        pa.field("night", pa.int32()),
    ]
)

XMATCH = register(
    TableSpec(
        "silver.xmatch",
        "alert x reference catalog matches within the catalog's radius (nearest, or all)",
        XMATCH_SCHEMA,
        partition_by=("night",),
        key=("survey", "candid", "catalog", "match_id"),
        writer="xmatch",
        sort_by=("catalog", "candid"),
    )
)
