"""The catalog tables science outputs land in: one per survey, keyed like the survey's silver table.

A table's schema is its survey's keys, then every registered module's outputs and `<module>_version`
column, in registration order: a new module (built-in or plugin) extends the table without an edit here.
"""

from __future__ import annotations

import pyarrow as pa

from siskin.lake.catalog import TableSpec, register

ZTF_SCIENCE = "silver.ztf_science"
RUBIN_SCIENCE = "silver.rubin_science"

KEYS: dict[str, tuple[pa.Field, ...]] = {
    ZTF_SCIENCE: (
        pa.field("night", pa.int32(), nullable=False),
        pa.field("objectId", pa.string(), nullable=False),
        pa.field("candid", pa.int64(), nullable=False),
    ),
    RUBIN_SCIENCE: (
        pa.field("night", pa.int32(), nullable=False),
        pa.field("diaObjectId", pa.int64()),
        pa.field("diaSourceId", pa.int64(), nullable=False),
    ),
}


def science_schema(table_name: str) -> pa.Schema:
    """Keys of `table_name`, then the outputs and version column of every module landing there."""
    from siskin.science.registry import available

    fields = list(KEYS[table_name])
    for cls in available().values():
        if cls.table == table_name:
            fields += [pa.field(o.name, o.type) for o in cls.outputs]
            fields.append(pa.field(f"{cls.name}_version", pa.string()))
    return pa.schema(fields)


def ztf_science_schema() -> pa.Schema:
    """Schema of `silver.ztf_science`."""
    return science_schema(ZTF_SCIENCE)


def rubin_science_schema() -> pa.Schema:
    """Schema of `silver.rubin_science`."""
    return science_schema(RUBIN_SCIENCE)


register(
    TableSpec(
        name=ZTF_SCIENCE,
        description="science module outputs per ZTF alert (roid, nalerthist, ...), with module versions",
        schema="siskin.science.tables:ztf_science_schema",
        partition_by=("night",),
        key=("candid",),
        writer="science",
        survey="ztf",
    )
)
register(
    TableSpec(
        name=RUBIN_SCIENCE,
        description="science module outputs per Rubin diaSource, each with its module version",
        schema="siskin.science.tables:rubin_science_schema",
        partition_by=("night",),
        key=("diaSourceId",),
        writer="science",
        survey="rubin",
    )
)
