"""Rubin (LSST) alerts, schemas 7.0 to 11.1: recognition, canonical 11.1 types, validation, silver mapping.

Canonical column types come from `schemas/rubin/rubin_schema.json`, a list of field names and types
derived once from the official lsst.v11_1 schema (`build_spec`; the GPLv3 .avsc files are not shipped).
Records of older versions are conformed to it by field name: missing fields are null, types are cast,
and fields renamed across versions (`RENAMES`) are moved to their newest name. Fields no Rubin schema
defines (a broker's `brokerIngestMjd`, `lsst_schema_version`, ...) and the 7.x-only `alertId` and
`prvDiaNondetectionLimits` are dropped.

Versions: a writer schema named `lsst.vX_Y.alert` says its version; a Spark-written `topLevelRecord`
is matched against the field names and types of every published version, and a record's own
`lsst_schema_version` (added by Fink) wins over both. Versions before 7.0 (`alertId`-keyed
alerts with `midPointTai`, `filterName`, ...) are rejected as `unknown_schema_version`.

Confluent-framed payloads carry no schema: `decode.confluent_schema_ids` maps their id to a Rubin
schema name (`"lsst.v10_0"`), read from the folder named by the setting `decode.rubin_schema_dir`
(`SISKIN_DECODE__RUBIN_SCHEMA_DIR`), laid out as the official package data
(`<major>/<minor>/lsst.vX_Y.alert.avsc` and the files of the records it references).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.alerts.avro_schema import PRIMITIVES, arrow_type, full_name, inline_named_types, non_null
from siskin.alerts.avro_schema import record_fields as avro_record_fields
from siskin.alerts.columns import cast, join_reasons, labelled, nights_from_jd, non_finite
from siskin.alerts.registry import FieldPath, PeekPaths, PeekRow, SilverParts, SurveyCodec, register
from siskin.alerts.ztf import cutout_schema as shared_cutout_schema
from siskin.alerts.ztf import reject_code, split_invalid
from siskin.config import DecodeSettings, QualityCuts
from siskin.errors import DecodeError

CANONICAL_VERSION = "11.1"
CUTOUTS = {"Science": "cutoutScience", "Template": "cutoutTemplate", "Difference": "cutoutDifference"}
REQUIRED_SOURCE = ("ra", "dec", "midpointMjdTai")
FINITE_SOURCE = ("ra", "dec", "midpointMjdTai")

# Fields renamed across the supported versions, per record: old name -> newest name. Only renames with
# an unchanged meaning are listed; a timestamp moved to a `...MjdTai` double is converted to MJD (TAI).
RENAMES: dict[str, dict[str, str]] = {
    "alert": {"MPCORB": "mpc_orbits"},
    "diaSource": {"is_negative": "isNegative", "time_processed": "timeProcessedMjdTai"},
    "diaForcedSource": {"time_processed": "timeProcessedMjdTai"},
    "diaObject": {"validityStart": "validityStartMjdTai"},
    "ssSource": {
        "eclipticLambda": "eclLambda",
        "eclipticBeta": "eclBeta",
        "galacticL": "galLon",
        "galacticB": "galLat",
        "heliocentricDist": "helioRange",
        "topocentricDist": "topoRange",
        "predictedVMagnitude": "ephVmag",
        **{f"heliocentric{a}": f"helio_{a.lower()}" for a in ("X", "Y", "Z", "VX", "VY", "VZ")},
        **{f"topocentric{a}": f"topo_{a.lower()}" for a in ("X", "Y", "Z", "VX", "VY", "VZ")},
    },
    "mpc_orbits": {"mpcH": "h", "epoch": "epoch_mjd", "M": "mean_anomaly", "peri": "argperi", "incl": "i"},
}

# TAI - UTC in seconds from each UTC MJD on (leap seconds since 1999; none announced after 2017).
_LEAP_MJD = np.array([51179.0, 53736.0, 54832.0, 56109.0, 57204.0, 57754.0])
_TAI_UTC = np.array([32.0, 33.0, 34.0, 35.0, 36.0, 37.0])
_MJD_UNIX_EPOCH = 40587.0
_MJD_TO_JD = 2400000.5

_SCHEMA_NAME = re.compile(r"^lsst\.v(\d+)_(\d+)(?:\.alert)?$")
_VERSION_TEXT = r"^(?:lsst\.)?v?(?P<major>\d+)[._](?P<minor>\d+)"
_LOGICAL = {
    "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "timestamp-millis": pa.timestamp("ms", tz="UTC"),
}
_OPTIONAL_RECORDS = ("diaObject", "ssSource", "ssObject", "mpc_orbits")
# Where an alert's object id is read, first non-null, non-zero wins (the decode and the peek agree).
_OBJECT_PATHS = (("diaSource", "diaObjectId"), ("diaObject", "diaObjectId"), ("diaSource", "ssObjectId"))


# --- the canonical spec: derived from the official schemas once, shipped as JSON ---------------------


def resolved_alert_schema(schema_dir: Path, version: str) -> bytes:
    """The lsst.vX_Y alert schema of `version` ("10.0") with each referenced record defined at first use.

    The official schemas are split in one file per record; a payload's writer schema must be one
    self-contained JSON document, so the referenced files are inlined where first named.
    """
    major, minor = version.split(".")
    prefix = f"lsst.v{major}_{minor}"
    folder = schema_dir / major / minor
    alert = json.loads((folder / f"{prefix}.alert.avsc").read_text())
    named = {}
    for path in folder.glob(f"{prefix}.*.avsc"):
        if not path.name.endswith(".alert.avsc"):
            record = json.loads(path.read_text())
            named[full_name(record)] = record
    defined: set[str] = set()

    def walk(node: Any, namespace: str) -> Any:
        if isinstance(node, list):
            return [walk(branch, namespace) for branch in node]
        if isinstance(node, str):
            name = node if "." in node or not namespace else f"{namespace}.{node}"
            if node in PRIMITIVES or name in defined or name not in named:
                return node
            return walk(copy.deepcopy(named[name]), namespace)
        out = dict(node)
        kind = node.get("type")
        if kind in ("record", "error"):
            name = full_name(node, namespace)
            defined.add(name)
            inner = name.rpartition(".")[0]
            out["fields"] = [{**f, "type": walk(f["type"], inner)} for f in node.get("fields", [])]
        elif kind == "array":
            out["items"] = walk(node["items"], namespace)
        elif kind == "map":
            out["values"] = walk(node["values"], namespace)
        elif isinstance(kind, (list, dict)) or (isinstance(kind, str) and kind not in PRIMITIVES):
            out["type"] = walk(kind, namespace)
        return out

    return json.dumps(walk(alert, ""), separators=(",", ":")).encode()


def _signature(avro_type: Any) -> str:
    """The encoding-level shape of a type: field names and primitive types, no record names or nullability.

    Spark rewrites names (`topLevelRecord.diaSource`) and makes every field nullable, but keeps
    field names, order and primitive types, so a Spark-written schema has the signature of its source.
    """
    inner, _ = non_null(avro_type)
    if isinstance(inner, str):
        return inner
    if isinstance(inner, list):
        return "(" + "|".join(_signature(branch) for branch in inner) + ")"
    kind = inner.get("type")
    if kind in ("record", "error"):
        return "{" + ",".join(f"{f['name']}:{_signature(f['type'])}" for f in inner.get("fields", [])) + "}"
    if kind == "array":
        return f"[{_signature(inner['items'])}]"
    if kind == "map":
        return f"<{_signature(inner['values'])}>"
    if kind in ("enum", "fixed"):
        return f"{kind}{inner.get('size', '')}"
    return _signature(kind)


def fingerprint(schema: Mapping[str, Any]) -> dict[str, str]:
    """What identifies a Rubin version in any writer schema: a short digest per top-level field."""
    return {
        f["name"]: hashlib.sha1(_signature(f["type"]).encode()).hexdigest()[:12]
        for f in avro_record_fields(schema)
    }


def build_spec(schema_dir: Path) -> dict[str, Any]:
    """The JSON shipped as `schemas/rubin/rubin_schema.json`, built from the official schema folder.

    Only field names and types are kept (no documentation): the canonical version's records, and the
    fingerprint of every version for recognising Spark-written schemas that do not name theirs.
    """
    records: dict[str, list[list[Any]]] = {}

    def compact(avro_type: Any) -> Any:
        inner, _ = non_null(avro_type)
        if isinstance(inner, str):
            return inner if inner in PRIMITIVES else inner.rpartition(".")[2]
        if inner.get("logicalType"):
            return inner["logicalType"]
        if inner.get("type") == "array":
            return [compact(inner["items"])]
        if inner.get("type") == "record":
            short = inner["name"].rpartition(".")[2]
            records[short] = [[f["name"], compact(f["type"])] for f in inner["fields"]]
            return short
        return compact(inner["type"])

    major, minor = CANONICAL_VERSION.split(".")
    alert = json.loads(resolved_alert_schema(schema_dir, CANONICAL_VERSION))
    columns = [[f["name"], compact(f["type"])] for f in alert["fields"]]
    compact(json.loads((schema_dir / major / minor / f"lsst.v{major}_{minor}.ssObject.avsc").read_text()))
    versions = {}
    for path in sorted(schema_dir.glob("*/*/lsst.v*_*.alert.avsc")):
        version = f"{path.parent.parent.name}.{path.parent.name}"
        versions[version] = fingerprint(
            inline_named_types(json.loads(resolved_alert_schema(schema_dir, version)))
        )
    ordered = dict(sorted(versions.items(), key=lambda item: _version_key(item[0])))
    return {"canonical_version": CANONICAL_VERSION, "alert": columns, "records": records, "versions": ordered}


def _version_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class _Canonical:
    """Arrow types of the canonical records, the alert's top-level columns, and the version fingerprints."""

    records: dict[str, pa.StructType]
    columns: list[tuple[str, pa.DataType, str | None]]  # name, type, record kind (for renames)
    versions: dict[str, dict[str, Any]]


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The shipped canonical spec (see `build_spec`)."""
    path = resources.files("siskin.alerts") / "schemas" / "rubin" / "rubin_schema.json"
    return json.loads(path.read_text())


@lru_cache(maxsize=1)
def canonical() -> _Canonical:
    """Canonical Arrow types from the shipped spec (all fields nullable, as in the ZTF codec)."""
    raw = spec()
    records: dict[str, pa.StructType] = {}

    def arrow(kind: Any) -> pa.DataType:
        if isinstance(kind, list):
            return pa.list_(arrow(kind[0]))
        if kind in raw["records"]:
            if kind not in records:
                records[kind] = pa.struct([pa.field(n, arrow(t)) for n, t in raw["records"][kind]])
            return records[kind]
        return _LOGICAL[kind] if kind in _LOGICAL else arrow_type(kind)

    for kind in raw["records"]:
        arrow(kind)
    columns = []
    for name, kind in raw["alert"]:
        record = kind[0] if isinstance(kind, list) else kind
        columns.append((name, arrow(kind), record if record in records else None))
        if name == "ssSource":  # 7.x alerts carried the ssObject record; 8.0 on carry ssSource instead
            columns.append(("ssObject", records["ssObject"], "ssObject"))
    return _Canonical(records, columns, raw["versions"])


@lru_cache(maxsize=1)
def alert_schema() -> pa.Schema:
    """Decoded Rubin alert columns: keys, alert scalars, every diaSource field, then the nested records."""
    keys = [
        pa.field("_row", pa.int32(), nullable=False),
        pa.field("night", pa.int32(), nullable=False),
        pa.field("survey", pa.string(), nullable=False),
        pa.field("schema_version", pa.string(), nullable=False),
        pa.field("diaSourceId", pa.int64(), nullable=False),
        pa.field("diaObjectId", pa.int64()),
    ]
    types = canonical()
    fields = []
    for name, dtype, _ in types.columns:
        if name == "diaSource":
            fields += [f for f in types.records["diaSource"] if f.name not in ("diaSourceId", "diaObjectId")]
        elif name != "diaSourceId" and name not in CUTOUTS.values():
            fields.append(pa.field(name, dtype))
    return pa.schema(keys + fields)


# --- time ---------------------------------------------------------------------------------------------


def _tai_minus_utc_days(mjd: np.ndarray) -> np.ndarray:
    index = np.clip(np.searchsorted(_LEAP_MJD, mjd, side="right") - 1, 0, None)
    return _TAI_UTC[index] / 86400.0


def day_obs(mjd_tai: pa.Array) -> pa.Array:
    """Rubin dayObs (int32 YYYYMMDD): the date of the UTC time 12 hours before each MJD (TAI)."""
    values = np.asarray(pc.fill_null(pc.cast(mjd_tai, pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    mjd_utc = values - _tai_minus_utc_days(np.nan_to_num(values))
    return nights_from_jd(pa.array(mjd_utc - 0.5 + _MJD_TO_JD, pa.float64()))


def _mjd_tai(timestamps: pa.Array) -> pa.Array:
    """MJD (TAI) of UTC timestamps (8.0's `time_processed`, `validityStart`)."""
    micros = pc.cast(pc.cast(timestamps, pa.timestamp("us")), pa.int64())
    days = np.asarray(pc.fill_null(micros, 0).to_numpy(zero_copy_only=False)) / 86_400e6 + _MJD_UNIX_EPOCH
    return pa.array(days + _tai_minus_utc_days(days), pa.float64(), mask=np.asarray(micros.is_null()))


# --- conforming decoded records to the canonical types -------------------------------------------------


def _conform(array: pa.Array, dtype: pa.DataType, kind: str | None) -> pa.Array:
    """`array` as `dtype`: struct fields matched by name or former name (`RENAMES[kind]`), then cast."""
    if kind is not None and pa.types.is_struct(dtype) and pa.types.is_struct(array.type):
        present = {f.name for f in array.type}
        former = {new: old for old, new in RENAMES.get(kind, {}).items()}
        n = len(array)
        children = []
        for f in dtype:
            source = f.name if f.name in present else former.get(f.name)
            present_source = source is not None and source in present
            children.append(
                _leaf(pc.struct_field(array, source), f.type) if present_source else pa.nulls(n, f.type)
            )
        mask = array.is_null() if array.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(dtype), mask=mask)
    if kind is not None and pa.types.is_list(dtype) and pa.types.is_large_list(array.type):
        array = pc.cast(array, pa.list_(array.type.value_field))
    if kind is not None and pa.types.is_list(dtype) and pa.types.is_list(array.type):
        items = _conform(array.values, dtype.value_type, kind)
        mask = array.is_null() if array.null_count else None
        return pa.ListArray.from_arrays(array.offsets, items, type=dtype, mask=mask)
    return _leaf(array, dtype)


def _leaf(array: pa.Array, dtype: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(array.type) and pa.types.is_floating(dtype):
        return _mjd_tai(array)
    return cast(array, dtype)


def _null_if_empty(struct: pa.Array) -> pa.Array:
    """A record whose every field is null is absent (Spark writes absent records as all-null structs)."""
    if not pa.types.is_struct(struct.type) or not len(struct):
        return struct
    empty = np.logical_and.reduce([np.asarray(child.is_null()) for child in struct.flatten()])
    if not empty.any():
        return struct
    mask = np.asarray(struct.is_null()) | empty
    return pa.StructArray.from_arrays(struct.flatten(), fields=list(struct.type), mask=pa.array(mask))


def _nonzero(ids: pa.Array) -> pa.Array:
    """Ids with Rubin's 0 ("not associated") turned into null."""
    return pc.if_else(pc.equal(ids, 0), pa.scalar(None, ids.type), ids)


def normalised_versions(versions: pa.Array) -> pa.Array:
    """`lsst.v9_0`, `v9_0` or `9.0` -> "9.0"; null where the text names no version."""
    parts = pc.extract_regex(versions, _VERSION_TEXT)
    major = pc.cast(pc.cast(pc.struct_field(parts, "major"), pa.int32()), pa.string())
    minor = pc.cast(pc.cast(pc.struct_field(parts, "minor"), pa.int32()), pa.string())
    return pc.binary_join_element_wise(major, minor, ".")


def _normalised_version(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    match = re.match(_VERSION_TEXT, text)
    return f"{int(match['major'])}.{int(match['minor'])}" if match else None


@register
class RubinCodec(SurveyCodec):
    """Vera C. Rubin Observatory (LSST) alerts, schema versions 7.0 to 11.1."""

    name = "rubin"
    silver_table = "silver.rubin_alerts"
    silver_description = "decoded Rubin/LSST alerts (diaSource flattened), quality flags, unique diaSourceId"
    alert_key = "diaSourceId"
    object_key = "diaObjectId"
    supported_versions = ("7.0", "7.1", "7.2", "7.3", "7.4", "8.0", "9.0", "10.0", "11.0", "11.1")
    peek_paths = PeekPaths(
        ("diaSource", "diaObjectId"),
        ("diaSource", "diaSourceId"),
        ("lsst_schema_version",),
        ("diaSource", "midpointMjdTai"),
    )
    extra_peek_paths = (("diaSourceId",), ("diaSource", "ssObjectId"), ("diaObject", "diaObjectId"))

    def recognises(self, schema: Mapping[str, Any]) -> bool:
        """An `lsst.vX_Y.alert`, or a record with a `diaSource` record and a `diaSourceId` or `alertId`."""
        if _SCHEMA_NAME.match(full_name(schema)):
            return True
        top = {f["name"]: f["type"] for f in avro_record_fields(schema)}
        source = {f["name"] for f in avro_record_fields(top.get("diaSource"))}
        return "diaSourceId" in source and bool({"diaSourceId", "alertId"} & top.keys())

    def writer_version(self, schema: Mapping[str, Any]) -> str | None:
        """From the name `lsst.vX_Y.alert`, else the published version whose fields the schema has.

        Candidates have every top-level field of the version and the same diaSource; the one with the
        most identical fields wins, the newest on a tie (7.0/7.1 and 10.0/11.0 differ only in docs or
        in nullability, which Spark erases).
        """
        named = _SCHEMA_NAME.match(full_name(schema))
        if named:
            return f"{int(named[1])}.{int(named[2])}"
        found = fingerprint(schema)
        ranked = [
            (sum(found[name] == digest for name, digest in known.items()), _version_key(version), version)
            for version, known in canonical().versions.items()
            if known.keys() <= found.keys() and known["diaSource"] == found["diaSource"]
        ]
        return max(ranked)[2] if ranked else None

    def names_version(self, version: str) -> bool:
        """Rubin schema names: `lsst.v10_0` (or `lsst.v10_0.alert`)."""
        return bool(_SCHEMA_NAME.match(version))

    def bundled_schema(self, version: str, settings: DecodeSettings) -> bytes | None:
        """The official schema of `lsst.vX_Y`, read from the folder `decode.rubin_schema_dir`."""
        named = _SCHEMA_NAME.match(version)
        if not named:
            return None
        folder = settings.rubin_schema_dir
        if not folder:
            raise DecodeError(
                "unknown_schema_version",
                f"{version} is a Rubin schema, which is not shipped: set decode.rubin_schema_dir "
                "(SISKIN_DECODE__RUBIN_SCHEMA_DIR) to a folder "
                "laid out as <major>/<minor>/lsst.vX_Y.alert.avsc (the lsst alert_packet schemas)",
            )
        try:
            return _schema_from_folder(folder, f"{int(named[1])}.{int(named[2])}")
        except (OSError, ValueError) as exc:
            raise DecodeError(
                "unknown_schema_version", f"Rubin schema {version} cannot be read from {folder}: {exc}"
            ) from exc

    def default_version(self, settings: DecodeSettings) -> str:
        """Schemaless Rubin payloads are assumed to be of the canonical version."""
        major, minor = CANONICAL_VERSION.split(".")
        return f"lsst.v{major}_{minor}"

    def nights(self, times: pa.Array) -> pa.Array:
        """Rubin dayObs of diaSource.midpointMjdTai (see `day_obs`)."""
        return day_obs(times)

    def alert_schema(self) -> pa.Schema:
        """See module-level `alert_schema`."""
        return alert_schema()

    def cutout_schema(self) -> pa.Schema:
        """The cutouts table shared with ZTF: `candid` is the diaSourceId, file names are null."""
        return shared_cutout_schema()

    def peek_row(self, found: Mapping[FieldPath, Any], writer_version: str | None) -> PeekRow:
        """Ids as in the decode: the object is the diaObjectId, or the ssObjectId of a solar-system source."""
        objects = [found[path] for path in _OBJECT_PATHS]
        object_id = next((v for v in objects if isinstance(v, int) and not isinstance(v, bool) and v), None)
        candid = next(
            (v for v in (found[("diaSourceId",)], found[("diaSource", "diaSourceId")]) if isinstance(v, int)),
            None,
        )
        time = found[("diaSource", "midpointMjdTai")]
        return PeekRow(
            _normalised_version(found[("lsst_schema_version",)]) or writer_version,
            None if object_id is None else str(object_id),
            candid,
            float(time) if isinstance(time, (int, float)) and not isinstance(time, bool) else None,
        )

    def quality_flags(self, alerts: pa.Table, cuts: QualityCuts) -> tuple[pa.Array, pa.Array]:
        """See `siskin.alerts.quality.rubin_quality_flags`."""
        from siskin.alerts.quality import rubin_quality_flags

        return rubin_quality_flags(alerts, cuts)

    def to_silver(
        self, records: pa.RecordBatch, rows: np.ndarray, alert_index: np.ndarray, schema_version: str | None
    ) -> SilverParts:
        """Flatten, conform and validate one decoded batch; failing records become rejects."""
        n = records.num_rows
        types = canonical()
        columns = {name: records.column(name) for name in records.schema.names}
        for old, new in RENAMES["alert"].items():
            if old in columns and new not in columns:
                columns[new] = columns.pop(old)

        def column(name: str, dtype: pa.DataType, kind: str | None = None) -> pa.Array:
            if name not in columns:
                return pa.nulls(n, dtype)
            conformed = _conform(columns[name], dtype, kind)
            return _null_if_empty(conformed) if name in _OPTIONAL_RECORDS else conformed

        source = column("diaSource", types.records["diaSource"], "diaSource")
        flat = dict(zip(types.records["diaSource"].names, source.flatten(), strict=True))
        source_id = pc.coalesce(column("diaSourceId", pa.int64()), flat["diaSourceId"])
        dia_object = column("diaObject", types.records["diaObject"], "diaObject")
        object_id = pc.coalesce(
            _nonzero(flat["diaObjectId"]),
            _nonzero(pc.struct_field(dia_object, "diaObjectId")),
            _nonzero(flat["ssObjectId"]),
        )
        version = normalised_versions(column("lsst_schema_version", pa.string()))
        if schema_version:
            version = pc.coalesce(version, pa.scalar(schema_version, pa.string()))
        night = day_obs(flat["midpointMjdTai"])
        code, reason = self._validate(version, source_id, source, flat, night)
        row_array = pa.array(rows.astype(np.int32), pa.int32())
        object_text = pc.cast(object_id, pa.string())
        ok, rejects = split_invalid(code, reason, row_array, alert_index, source_id, object_text)
        values = {
            **flat,
            "_row": row_array,
            "night": night,
            "survey": pa.repeat(pa.scalar(self.name), n),
            "schema_version": version,
            "diaSourceId": source_id,
            "diaObjectId": object_id,
            "diaObject": dia_object,
        }
        for name, dtype, kind in types.columns:
            if name not in values and name != "diaSource" and name not in CUTOUTS.values():
                values[name] = column(name, dtype, kind)
        alerts = pa.Table.from_arrays([values[f.name] for f in alert_schema()], schema=alert_schema())
        unassociated = pc.fill_null(object_text, "")  # the cutouts key is not nullable
        cutouts = {"_row": row_array, "night": night, "objectId": unassociated, "candid": source_id}
        for kind, name in CUTOUTS.items():
            cutouts[f"cutout{kind}_fileName"] = pa.nulls(n, pa.string())
            cutouts[f"cutout{kind}_stampData"] = column(name, pa.binary())
        schema = shared_cutout_schema()
        cutout_table = pa.Table.from_arrays([cutouts[f.name] for f in schema], schema=schema)
        if rejects.num_rows:
            alerts, cutout_table = alerts.filter(ok), cutout_table.filter(ok)
        return SilverParts(alerts, cutout_table, rejects)

    def _validate(
        self,
        version: pa.Array,
        source_id: pa.Array,
        source: pa.Array,
        flat: dict[str, pa.Array],
        night: pa.Array,
    ) -> tuple[pa.Array, pa.Array]:
        """Per-record reject code and reason (null when the record is fine), first failing check wins."""
        supported = pa.array(self.supported_versions, pa.string())
        bad_version = pc.invert(pc.fill_null(pc.is_in(version, value_set=supported), False))
        version_reason = pc.binary_join_element_wise(
            "schema version ",
            pc.fill_null(version, "(unknown: the writer schema names none and matches no published one)"),
            f" is not a supported Rubin version ({', '.join(self.supported_versions)})",
            "",
        )
        no_source = source.is_null()
        missing_parts = [
            labelled(source_id.is_null(), "diaSourceId is missing"),
            labelled(no_source, "diaSource is missing"),
            *[
                labelled(pc.and_not(flat[name].is_null(), no_source), f"diaSource.{name} is missing")
                for name in REQUIRED_SOURCE
            ],
        ]
        missing_reason = join_reasons(missing_parts, "; ")
        finite_parts = [
            labelled(non_finite(flat[name]), f"diaSource.{name} is NaN or infinite") for name in FINITE_SOURCE
        ]
        finite_parts.append(
            labelled(
                pc.and_(night.is_null(), flat["midpointMjdTai"].is_valid()),
                "diaSource.midpointMjdTai is not a usable date",
            )
        )
        finite_reason = join_reasons(finite_parts, "; ")
        return reject_code(bad_version, version_reason, missing_reason, finite_reason)


@lru_cache(maxsize=32)
def _schema_from_folder(folder: str, version: str) -> bytes:
    """`resolved_alert_schema`, cached per folder and version (Confluent payloads hit it per batch)."""
    return resolved_alert_schema(Path(folder), version)
