"""Run science modules over one batch of silver alerts: inputs checked, outputs checked, versions added."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from siskin.science.base import ScienceError, ScienceModule
from siskin.science.paths import input_type


def missing_inputs(batch: pa.Table, module: ScienceModule) -> list[str]:
    """The declared inputs of `module` that `batch` lacks."""
    return [path for path in module.inputs if input_type(batch.schema, path) is None]


def check_modules(modules: Sequence[ScienceModule]) -> None:
    """Refuse duplicate module names and output columns claimed twice (outputs or version columns)."""
    seen: dict[str, str] = {}
    for module in modules:
        for column in [o.name for o in module.outputs] + [module.version_column]:
            if column in seen:
                raise ScienceError(f"column {column!r} is produced by both {seen[column]} and {module.name}")
            seen[column] = module.name


def run_modules(batch: pa.Table, modules: Sequence[ScienceModule], keys: Sequence[str] = ()) -> pa.Table:
    """The `keys` columns of `batch`, then each module's outputs and `<name>_version`, in row order."""
    check_modules(modules)
    missing = {m.name: gaps for m in modules if (gaps := missing_inputs(batch, m))}
    if absent := [k for k in keys if k not in batch.column_names]:
        missing["keys"] = absent
    if missing:
        detail = "; ".join(f"{name} needs {', '.join(gaps)}" for name, gaps in missing.items())
        raise ScienceError(f"input columns missing from the batch: {detail}")
    n = batch.num_rows
    fields = [batch.schema.field(k) for k in keys]
    arrays = [batch.column(k) for k in keys]
    for module in modules:
        produced = dict(module.compute(batch))
        declared = [o.name for o in module.outputs]
        if sorted(produced) != sorted(declared):
            raise ScienceError(f"{module.name} returned columns {sorted(produced)}, it declares {declared}")
        for out in module.outputs:
            values = produced[out.name]
            if len(values) != n:
                raise ScienceError(f"{module.name}.{out.name} has {len(values)} values for {n} alerts")
            if values.type != out.type:
                raise ScienceError(f"{module.name}.{out.name} is {values.type}, it declares {out.type}")
            fields.append(pa.field(out.name, out.type, metadata=_provenance(module)))
            arrays.append(values)
        fields.append(pa.field(module.version_column, pa.string(), metadata=_provenance(module)))
        arrays.append(pa.repeat(pa.scalar(module.version, pa.string()), n))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _provenance(module: ScienceModule) -> dict[str, str]:
    """Field metadata naming the module and version that produced a column."""
    return {"siskin.module": module.name, "siskin.module_version": module.version}
