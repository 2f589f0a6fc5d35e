"""Run science modules over one batch of silver alerts: in dependency order, inputs and outputs checked.

A module may read another module's outputs (the class rules read the scores): the runner orders
modules so that producers run first, and each module sees the batch with every earlier module's
outputs appended. Required inputs must be in the batch or produced earlier; optional inputs may be
absent (the module then sees no such column).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from siskin.science.base import ScienceError, ScienceModule
from siskin.science.paths import input_type


def _head(path: str) -> str:
    return path.split(".", 1)[0]


def check_modules(modules: Sequence[ScienceModule]) -> None:
    """Refuse duplicate module names and output columns claimed twice (outputs or version columns)."""
    seen: dict[str, str] = {}
    names: set[str] = set()
    for module in modules:
        if module.name in names:
            raise ScienceError(f"science module {module.name!r} is listed twice")
        names.add(module.name)
        for column in [o.name for o in module.outputs] + [module.version_column]:
            if column in seen:
                raise ScienceError(f"column {column!r} is produced by both {seen[column]} and {module.name}")
            seen[column] = module.name


def _reads(module: ScienceModule) -> set[str]:
    """Top-level columns a module reads (required or optional)."""
    return {_head(p) for p in (*module.inputs, *module.optional_inputs)}


def dependency_order(modules: Sequence[ScienceModule]) -> list[ScienceModule]:
    """`modules` ordered so that a module runs after every module whose outputs it reads (stable)."""
    check_modules(modules)
    producer = {o.name: m.name for m in modules for o in m.outputs}
    needs = {m.name: _reads(m) & producer.keys() for m in modules}
    needs = {name: {producer[c] for c in columns} - {name} for name, columns in needs.items()}
    by_name = {m.name: m for m in modules}
    ordered: list[ScienceModule] = []
    done: set[str] = set()
    pending = [m.name for m in modules]
    while pending:
        ready = [n for n in pending if needs[n] <= done]
        if not ready:
            raise ScienceError(f"science modules depend on each other in a cycle: {', '.join(pending)}")
        for name in ready:
            ordered.append(by_name[name])
            done.add(name)
        pending = [n for n in pending if n not in done]
    return ordered


def missing_inputs(
    batch: pa.Table, module: ScienceModule, produced: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """The required inputs of `module` neither in `batch` nor produced by a module running before it."""
    return [p for p in module.inputs if input_type(batch.schema, p) is None and _head(p) not in produced]


def run_modules(batch: pa.Table, modules: Sequence[ScienceModule], keys: Sequence[str] = ()) -> pa.Table:
    """The `keys` columns of `batch`, then each module's outputs and `<name>_version`, in run order."""
    ordered = dependency_order(modules)
    missing: dict[str, list[str]] = {}
    produced: set[str] = set()
    for module in ordered:
        if gaps := missing_inputs(batch, module, produced):
            missing[module.name] = gaps
        produced.update(o.name for o in module.outputs)
    if absent := [k for k in keys if k not in batch.column_names]:
        missing["keys"] = absent
    if missing:
        detail = "; ".join(f"{name} needs {', '.join(gaps)}" for name, gaps in missing.items())
        raise ScienceError(f"input columns missing from the batch: {detail}")
    n = batch.num_rows
    fields = [batch.schema.field(k) for k in keys]
    arrays = [batch.column(k) for k in keys]
    working = batch
    for module in ordered:
        results = dict(module.compute(working))
        declared = [o.name for o in module.outputs]
        if sorted(results) != sorted(declared):
            raise ScienceError(f"{module.name} returned columns {sorted(results)}, it declares {declared}")
        for out in module.outputs:
            values = results[out.name]
            if len(values) != n:
                raise ScienceError(f"{module.name}.{out.name} has {len(values)} values for {n} alerts")
            if values.type != out.type:
                raise ScienceError(f"{module.name}.{out.name} is {values.type}, it declares {out.type}")
            field = pa.field(out.name, out.type, metadata=_provenance(module))
            fields.append(field)
            arrays.append(values)
            working = _put(working, field, values)
        version = pa.repeat(pa.scalar(module.version, pa.string()), n)
        fields.append(pa.field(module.version_column, pa.string(), metadata=_provenance(module)))
        arrays.append(version)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _put(batch: pa.Table, field: pa.Field, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`batch` with `field` set (replaced when the batch already carries a column of that name)."""
    index = batch.schema.get_field_index(field.name)
    if index >= 0:
        return batch.set_column(index, field, values)
    return batch.append_column(field, values)


def _provenance(module: ScienceModule) -> dict[str, str]:
    """Field metadata naming the module and version that produced a column."""
    return {"siskin.module": module.name, "siskin.module_version": module.version}
