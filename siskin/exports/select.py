"""The rows an export holds: one night of a silver or gold table, declarative clauses, chosen columns."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from siskin.config import ExportClause, ExportSpec, Settings
from siskin.errors import ConfigurationError, LakeError
from siskin.lake import catalog

EXPORTABLE_LAYERS = ("silver", "gold")


def _clause(clause: ExportClause, schema: pa.Schema) -> ds.Expression:
    """One clause as an Arrow expression (never evaluated as code)."""
    if clause.column not in schema.names:
        raise ConfigurationError(f"export clause on unknown column {clause.column!r}")
    try:
        return _expression(clause, schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
        raise ConfigurationError(
            f"export clause {clause.column} {clause.op} {clause.value!r}: the value does not fit the column "
            f"({schema.field(clause.column).type}): {exc}"
        ) from None


def _expression(clause: ExportClause, schema: pa.Schema) -> ds.Expression:
    field = pc.field(clause.column)
    op, value = clause.op, clause.value
    if op == "is_null":
        return field.is_null()
    if op == "not_null":
        return field.is_valid()
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise ConfigurationError(f"export clause {clause.column} {op}: value must be a list")
        values = pa.array(value).cast(schema.field(clause.column).type)
        member = field.isin(values)
        return member if op == "in" else ~member
    if value is None or isinstance(value, list):
        raise ConfigurationError(f"export clause {clause.column} {op}: needs one value")
    scalar = pa.scalar(value).cast(schema.field(clause.column).type)
    comparisons = {
        "==": field == scalar,
        "!=": field != scalar,
        "<": field < scalar,
        "<=": field <= scalar,
        ">": field > scalar,
        ">=": field >= scalar,
    }
    return comparisons[op]


def source_table(spec: ExportSpec) -> catalog.TableSpec:
    """The catalog table an export reads; only silver and gold tables are exported."""
    table = catalog.table(spec.table)
    if table.layer not in EXPORTABLE_LAYERS:
        raise ConfigurationError(f"export of {spec.table}: only silver and gold tables are exported")
    return table


def select_night(settings: Settings, spec: ExportSpec, night: int) -> pa.Table:
    """The night's rows of the spec's table, filtered by its clauses, with its columns (in its order)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    table = source_table(spec)
    uri = table.path(settings.lake_uri)
    try:
        delta = DeltaTable(uri)
    except TableNotFoundError:
        raise LakeError(f"export of {spec.table}: the table does not exist yet at {uri}") from None
    dataset = delta.to_pyarrow_dataset()
    schema = dataset.schema
    if spec.night_column not in schema.names:
        raise ConfigurationError(
            f"export of {spec.table}: no column {spec.night_column!r} names the night (set night_column)"
        )
    missing = [c for c in spec.columns if c not in schema.names]
    if missing:
        raise ConfigurationError(
            f"export of {spec.table}: unknown columns {missing}; the table has {', '.join(schema.names)}"
        )
    condition = pc.field(spec.night_column) == pa.scalar(night).cast(schema.field(spec.night_column).type)
    for clause in spec.where:
        condition = condition & _clause(clause, schema)
    columns = list(spec.columns) or list(schema.names)
    return dataset.to_table(columns=columns, filter=condition)
