"""Whole-column Arrow helpers: conform decoded columns to canonical types, nights, reasons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

JD_UNIX_EPOCH = 2440587.5


def relaxed(dtype: pa.DataType) -> pa.DataType:
    """`dtype` with every nested field nullable, so older schema versions can leave fields null."""
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, relaxed(f.type), nullable=True) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(pa.field(dtype.value_field.name, relaxed(dtype.value_type), nullable=True))
    return dtype


def cast(array: pa.Array, dtype: pa.DataType) -> pa.Array:
    """Cast to a canonical type: safely when possible, else unsafely (never fails a batch)."""
    if array.type == dtype:
        return array
    if pa.types.is_struct(dtype) and pa.types.is_struct(array.type):
        return conform_struct(array, dtype)
    if pa.types.is_list(dtype) and (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        return conform_list(array, dtype)
    try:
        return pc.cast(array, dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:
            return pc.cast(array, dtype, safe=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(len(array), dtype)


def field_or_null(struct: pa.Array | None, name: str, dtype: pa.DataType, length: int) -> pa.Array:
    """A struct child by name (parent nulls propagated) cast to `dtype`; all-null if absent."""
    if struct is None or struct.type.get_field_index(name) < 0:
        return pa.nulls(length, dtype)
    return cast(pc.struct_field(struct, name), dtype)


def conform_struct(struct: pa.Array, dtype: pa.StructType) -> pa.Array:
    """A struct array with exactly the fields of `dtype` (by name), extra fields dropped."""
    n = len(struct)
    children = [field_or_null(struct, f.name, f.type, n) for f in dtype]
    mask = struct.is_null() if struct.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(dtype), mask=mask)


def conform_list(array: pa.Array, dtype: pa.ListType) -> pa.Array:
    """A list array whose items are conformed to `dtype.value_type` (offsets and nulls kept)."""
    if pa.types.is_large_list(array.type):
        array = pc.cast(array, pa.list_(array.type.value_field))
    values = array.values
    items = cast(values, dtype.value_type)
    offsets = array.offsets
    mask = array.is_null() if array.null_count else None
    return pa.ListArray.from_arrays(offsets, items, type=dtype, mask=mask)


def nights_from_jd(jd: pa.Array) -> pa.Array:
    """int32 YYYYMMDD of the UTC date of each Julian date (null where jd is null or not finite)."""
    values = np.asarray(pc.fill_null(pc.cast(jd, pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    valid = np.isfinite(values) & (np.abs(values - JD_UNIX_EPOCH) < 3.0e6)
    days = np.floor(np.where(valid, values, JD_UNIX_EPOCH) - JD_UNIX_EPOCH).astype(np.int64)
    dates = days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months).astype(np.int64) + 1
    return pa.array((year * 10000 + month * 100 + day).astype(np.int32), pa.int32(), mask=~valid)


def non_finite(array: pa.Array) -> pa.Array:
    """True where a floating value is NaN or infinite (null values are not non-finite)."""
    if not pa.types.is_floating(array.type):
        return pa.array(np.zeros(len(array), bool))
    return pc.fill_null(pc.invert(pc.is_finite(array)), False)


def join_reasons(parts: Sequence[pa.Array], separator: str) -> pa.Array:
    """Element-wise join of optional reason strings, null where every part is null.

    Built pairwise with coalesce: `binary_join_element_wise(null_handling="skip")` drops the rows
    where every input is null (pyarrow 26), which would misalign the result.
    """
    if not parts:
        raise ValueError("no reason columns to join")
    acc = pc.cast(parts[0], pa.string())
    for part in parts[1:]:
        part = pc.cast(part, pa.string())
        acc = pc.coalesce(pc.binary_join_element_wise(acc, part, separator), acc, part)
    return acc


def labelled(mask: pa.Array, text: str | pa.Array) -> pa.Array:
    """`text` where `mask` is true, null elsewhere."""
    return pc.if_else(mask, text, pa.scalar(None, pa.string()))
