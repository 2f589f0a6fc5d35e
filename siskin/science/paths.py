"""Input columns by full name: `ssdistnr`, or a dotted path into a struct or a list of structs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def input_column(batch: pa.Table, path: str) -> pa.Array | None:
    """The column at `path` (a list of structs yields a list of the field, same offsets); None if absent."""
    head, *rest = path.split(".")
    if head not in batch.column_names:
        return None
    array: pa.Array = batch.column(head).combine_chunks()
    for name in rest:
        dtype = array.type
        if pa.types.is_struct(dtype) and dtype.get_field_index(name) >= 0:
            array = pc.struct_field(array, name)
        elif pa.types.is_list(dtype) and pa.types.is_struct(dtype.value_type):
            if dtype.value_type.get_field_index(name) < 0:
                return None
            mask = array.is_null() if array.null_count else None
            values = pc.struct_field(array.values, name)
            array = pa.ListArray.from_arrays(array.offsets, values, mask=mask)
        else:
            return None
    return array
