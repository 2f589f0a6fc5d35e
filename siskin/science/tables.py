"""Where science outputs land: as columns of the survey's silver alerts table (silver = enriched alerts).

Every registered module (built-in or plugin) adds its outputs and a `<module>_version` column to the
silver table it names, in registration order, after the decoded alert and before provenance: a new
module extends the table without an edit here. Rows a module did not run on hold nulls there.
"""

from __future__ import annotations

import pyarrow as pa

ZTF_ALERTS = "silver.alerts"
RUBIN_ALERTS = "silver.rubin_alerts"
SILVER_TABLES: dict[str, str] = {"ztf": ZTF_ALERTS, "rubin": RUBIN_ALERTS}


def module_fields(table_name: str) -> list[pa.Field]:
    """The outputs and version column of every registered module landing in `table_name`."""
    from siskin.science.registry import available

    fields: list[pa.Field] = []
    for cls in available().values():
        if cls.table == table_name:
            fields += [pa.field(o.name, o.type) for o in cls.outputs]
            fields.append(pa.field(f"{cls.name}_version", pa.string()))
    return fields


def science_schema(table_name: str) -> pa.Schema:
    """Only the science columns of `table_name` (what `siskin compare` and the stream produce)."""
    return pa.schema(module_fields(table_name))
