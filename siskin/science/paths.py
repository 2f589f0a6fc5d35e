"""Input columns by full name: `ssdistnr`, or a dotted path into a struct or a list of structs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def input_type(schema: pa.Schema, path: str) -> pa.DataType | None:
    """The type `input_column` gives for `path` (a list of structs: a list of the field); None if absent."""
    head, *rest = path.split(".")
    if schema.get_field_index(head) < 0:
        return None
    dtype = schema.field(head).type
    for name in rest:
        if pa.types.is_struct(dtype) and dtype.get_field_index(name) >= 0:
            dtype = dtype.field(name).type
        elif pa.types.is_list(dtype) and pa.types.is_struct(dtype.value_type):
            if dtype.value_type.get_field_index(name) < 0:
                return None
            dtype = pa.list_(dtype.value_type.field(name).type)
        else:
            return None
    return dtype


def input_column(batch: pa.Table, path: str) -> pa.Array | None:
    """The column at `path`, one array (only the named field is copied, never the whole struct)."""
    if input_type(batch.schema, path) is None:
        return None
    head, *rest = path.split(".")
    pieces = [_descend(chunk, rest) for chunk in batch.column(head).chunks]
    if not pieces:
        return pa.array([], input_type(batch.schema, path))
    return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)


def _descend(array: pa.Array, names: list[str]) -> pa.Array:
    for name in names:
        if pa.types.is_struct(array.type):
            array = pc.struct_field(array, name)
        else:  # a list of structs: the field's values under the same offsets and nulls
            mask = array.is_null() if array.null_count else None
            offsets = array.offsets
            start, end = offsets[0].as_py(), offsets[-1].as_py()
            values = pc.struct_field(array.values.slice(start, end - start), name)
            if start:
                offsets = pc.subtract(offsets, pa.scalar(start, offsets.type))
            array = pa.ListArray.from_arrays(offsets, values, mask=mask)
    return array
