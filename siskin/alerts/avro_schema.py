"""Avro schema helpers: named-type inlining (DataFusion cannot follow references) and Arrow types."""

from __future__ import annotations

import copy
import json
from typing import Any

import pyarrow as pa

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_NAMED = {"record", "enum", "fixed", "error"}
_CONTAINERS = _NAMED | {"array", "map"}

_ARROW_PRIMITIVES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}


def full_name(schema: Any, namespace: str = "") -> str:
    """The full name of a named schema (`ztf.alert`), or its type name for anything else."""
    if isinstance(schema, dict):
        name = str(schema.get("name", schema.get("type", "")))
        if "." in name or not (schema.get("namespace") or namespace):
            return name
        return f"{schema.get('namespace') or namespace}.{name}"
    return str(schema)


def inline_named_types(schema: Any) -> Any:
    """A copy of `schema` where every reference to a named type is replaced by its definition.

    Copies get a unique name (`cutout_2`, ...) so the result stays a valid Avro schema; names do not
    change the binary encoding of a writer schema, only how readers resolve unions by name.
    """
    defined: dict[str, Any] = {}
    used: dict[str, int] = {}

    def unique(name: str) -> str:
        used[name] = used.get(name, 0) + 1
        return name if used[name] == 1 else f"{name}_{used[name]}"

    def walk(node: Any, namespace: str) -> Any:
        if isinstance(node, list):
            return [walk(branch, namespace) for branch in node]
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            target = defined.get(node) or defined.get(f"{namespace}.{node}")
            if target is None:
                raise KeyError(f"unresolved named type {node!r}")
            clone = copy.deepcopy(target)
            clone["name"] = unique(full_name(target))
            clone.pop("namespace", None)
            return clone
        if not isinstance(node, dict):
            raise TypeError(f"not an Avro schema node: {node!r}")
        kind = node.get("type")
        if isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in _CONTAINERS):
            out = dict(node)
            out["type"] = walk(kind, namespace)
            return out
        out = dict(node)
        if kind in _NAMED:
            name = full_name(node, namespace)
            inner_ns = name.rpartition(".")[0]
            out["name"] = unique(name)
            out.pop("namespace", None)
            if kind in ("record", "error"):
                out["fields"] = [{**f, "type": walk(f["type"], inner_ns)} for f in node.get("fields", [])]
            defined[name] = out
            return out
        if kind == "array":
            out["items"] = walk(node["items"], namespace)
        elif kind == "map":
            out["values"] = walk(node["values"], namespace)
        return out

    return walk(schema, "")


def inline_schema_json(schema_json: bytes | str) -> tuple[dict[str, Any], bytes]:
    """Parse a writer schema and return it inlined, as a dict and as compact JSON bytes."""
    inlined = inline_named_types(json.loads(schema_json))
    return inlined, json.dumps(inlined, separators=(",", ":")).encode()


def non_null(schema: Any) -> tuple[Any, bool]:
    """The non-null branch of an optional union, and whether null was allowed."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) == 1:
            return branches[0], len(branches) < len(schema)
        return schema, "null" in schema
    if isinstance(schema, dict) and isinstance(schema.get("type"), (list, dict)):
        return non_null(schema["type"])
    return schema, False


def record_fields(schema: Any) -> list[dict[str, Any]]:
    """Fields of a record schema (through an optional union), empty for anything else."""
    inner, _ = non_null(schema)
    if isinstance(inner, dict) and inner.get("type") in ("record", "error"):
        return list(inner.get("fields", []))
    return []


def arrow_type(schema: Any) -> pa.DataType:
    """The Arrow type DataFusion's Avro reader produces for an (inlined) Avro type."""
    inner, _ = non_null(schema)
    if isinstance(inner, str):
        if inner in _ARROW_PRIMITIVES:
            return _ARROW_PRIMITIVES[inner]
        raise TypeError(f"no Arrow type for Avro type {inner!r}")
    if isinstance(inner, list):
        raise TypeError("general unions have no canonical Arrow type here")
    kind = inner.get("type")
    if kind in ("record", "error"):
        return pa.struct([arrow_field(f) for f in inner.get("fields", [])])
    if kind == "array":
        return pa.list_(arrow_type(inner["items"]))
    if kind == "map":
        return pa.map_(pa.string(), arrow_type(inner["values"]))
    if kind == "enum":
        return pa.string()
    if kind == "fixed":
        return pa.binary(int(inner["size"]))
    return arrow_type(kind)


def arrow_field(field: dict[str, Any]) -> pa.Field:
    """One Avro record field as an Arrow field; nullable when its type is an optional union."""
    _, nullable = non_null(field["type"])
    return pa.field(field["name"], arrow_type(field["type"]), nullable=nullable)
