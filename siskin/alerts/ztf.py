"""ZTF alerts (schemas 3.0 to 4.02): recognition, canonical 4.02 types, validation, silver mapping.

Canonical column types come from the bundled official 4.02 schema; records of older versions are
conformed to it (fields they lack are null, `fp_hists` is null before 4.01). Fields no ZTF schema
defines (a broker's `cdsxmatch`, Spark's `timestamp`) are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.alerts.avro_schema import arrow_type, inline_named_types, record_fields
from siskin.alerts.columns import (
    cast,
    field_or_null,
    join_reasons,
    labelled,
    nights_from_jd,
    non_finite,
    relaxed,
)
from siskin.alerts.registry import PeekPaths, SilverParts, SurveyCodec, register
from siskin.config import DecodeSettings, QualityCuts

CUTOUT_KINDS = ("Science", "Template", "Difference")
# Top-level alert fields ZTF also carries inside `candidate` (same value). Alerts rewritten by other
# pipelines (Spark jobs of broker archives, other brokers' streams) sometimes drop or null the top-level
# copy; it is recovered from `candidate` and an alert is rejected only when neither place has it.
ALSO_IN_CANDIDATE = ("candid",)
REQUIRED_CANDIDATE = ("jd", "fid", "ra", "dec", "magpsf", "sigmapsf")
FINITE_CANDIDATE = ("magpsf", "sigmapsf", "ra", "dec", "jd")


@dataclass(frozen=True)
class _Canonical:
    """Arrow types of the bundled 4.02 schema, relaxed to nullable."""

    candidate: pa.StructType
    prv_candidates: pa.ListType
    fp_hists: pa.ListType


@lru_cache(maxsize=1)
def bundled_schema_bytes() -> bytes:
    """The official ZTF 4.02 alert schema shipped with the package (one self-contained file)."""
    return (resources.files("siskin.alerts") / "schemas" / "ztf" / "4.02" / "alert.avsc").read_bytes()


@lru_cache(maxsize=1)
def canonical() -> _Canonical:
    """Canonical 4.02 Arrow types, derived from the bundled schema rather than written by hand."""
    inlined = inline_named_types(json.loads(bundled_schema_bytes()))
    types = {f["name"]: relaxed(arrow_type(f["type"])) for f in inlined["fields"]}
    return _Canonical(types["candidate"], types["prv_candidates"], types["fp_hists"])


@lru_cache(maxsize=1)
def alert_schema() -> pa.Schema:
    """Decoded alert columns: keys, then every 4.02 candidate field, then the two histories."""
    keys = [
        pa.field("_row", pa.int32(), nullable=False),
        pa.field("night", pa.int32(), nullable=False),
        pa.field("survey", pa.string(), nullable=False),
        pa.field("schema_version", pa.string(), nullable=False),
        pa.field("objectId", pa.string(), nullable=False),
        pa.field("candid", pa.int64(), nullable=False),
        pa.field("schemavsn", pa.string()),
        pa.field("publisher", pa.string()),
    ]
    types = canonical()
    candidate = [f for f in types.candidate if f.name != "candid"]  # same value as the alert's candid
    histories = [pa.field("prv_candidates", types.prv_candidates), pa.field("fp_hists", types.fp_hists)]
    return pa.schema(keys + candidate + histories)


@lru_cache(maxsize=1)
def cutout_schema() -> pa.Schema:
    """Cutout columns: the keys shared with alerts, then file name and gzip FITS bytes per kind."""
    fields = [
        pa.field("_row", pa.int32(), nullable=False),
        pa.field("night", pa.int32(), nullable=False),
        pa.field("objectId", pa.string(), nullable=False),
        pa.field("candid", pa.int64(), nullable=False),
    ]
    for kind in CUTOUT_KINDS:
        fields += [
            pa.field(f"cutout{kind}_fileName", pa.string()),
            pa.field(f"cutout{kind}_stampData", pa.binary()),
        ]
    return pa.schema(fields)


def reject_code(
    bad_version: pa.Array, version_reason: pa.Array, missing_reason: pa.Array, finite_reason: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Per alert, the first failed check in precedence order (version, missing field, non-finite):
    (reason_code, reason), both null for a valid alert."""
    null = pa.scalar(None, pa.string())
    code = pc.if_else(
        bad_version,
        "unknown_schema_version",
        pc.if_else(
            missing_reason.is_valid(),
            "missing_field",
            pc.if_else(finite_reason.is_valid(), "non_finite", null),
        ),
    )
    reason = pc.if_else(
        bad_version, version_reason, pc.if_else(missing_reason.is_valid(), missing_reason, finite_reason)
    )
    return code, reason


def split_invalid(
    code: pa.Array,
    reason: pa.Array,
    rows: pa.Array,
    alert_index: np.ndarray,
    key: pa.Array,
    object_id: pa.Array,
) -> tuple[pa.Array, pa.Table]:
    """(valid mask, reject rows) from per-alert validation codes: a null code means valid."""
    ok = pc.is_null(code)
    bad = pc.invert(ok)
    index = pa.array(alert_index.astype(np.int32)).filter(bad)
    rejects = reject_rows(
        rows.filter(bad), code.filter(bad), reason.filter(bad), index, key.filter(bad), object_id.filter(bad)
    )
    return ok, rejects


def reject_rows(
    rows: pa.Array,
    codes: pa.Array,
    reasons: pa.Array,
    alert_index: pa.Array,
    candid: pa.Array,
    object_id: pa.Array,
) -> pa.Table:
    """Reject rows in the shared reject schema (see `decoder.reject_schema`)."""
    return pa.table(
        {
            "_row": pc.cast(rows, pa.int32()),
            "reason_code": pc.cast(codes, pa.string()),
            "reason": pc.cast(reasons, pa.string()),
            "alert_index": pc.cast(alert_index, pa.int32()),
            "candid": pc.cast(candid, pa.int64()),
            "objectId": pc.cast(object_id, pa.string()),
        }
    )


@register
class ZtfCodec(SurveyCodec):
    """Zwicky Transient Facility alerts, schema versions 3.0 to 4.02."""

    name = "ztf"
    silver_table = "silver.alerts"
    silver_description = "decoded, flattened, deduplicated ZTF alerts with quality flags"
    alert_key = "candid"
    object_key = "objectId"
    supported_versions = ("3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "4.01", "4.02")
    peek_paths = PeekPaths(("objectId",), ("candid",), ("schemavsn",), ("candidate", "jd"))

    def recognises(self, schema: Mapping[str, Any]) -> bool:
        """A ZTF alert has a `candidate` record with `jd` and `magpsf`, and an `objectId` or `candid`."""
        top = {f["name"]: f["type"] for f in record_fields(schema)}
        candidate = {f["name"] for f in record_fields(top.get("candidate"))}
        return {"jd", "magpsf"} <= candidate and bool({"objectId", "candid"} & top.keys())

    def bundled_schema(self, version: str, settings: DecodeSettings) -> bytes | None:
        """Only 4.02 is shipped: it is the version ZTF publishes and the simulator writes."""
        return bundled_schema_bytes() if version == "4.02" else None

    def default_version(self, settings: DecodeSettings) -> str:
        """`DecodeSettings.ztf_default_schema_version`."""
        return settings.ztf_default_schema_version

    def nights(self, times: pa.Array) -> pa.Array:
        """ZTF night: UTC calendar date of candidate.jd."""
        return nights_from_jd(times)

    def alert_schema(self) -> pa.Schema:
        """See module-level `alert_schema`."""
        return alert_schema()

    def cutout_schema(self) -> pa.Schema:
        """See module-level `cutout_schema`."""
        return cutout_schema()

    def quality_flags(self, alerts: pa.Table, cuts: QualityCuts) -> tuple[pa.Array, pa.Array]:
        """See `siskin.alerts.quality.quality_flags`."""
        from siskin.alerts.quality import quality_flags

        return quality_flags(alerts, cuts)

    def to_silver(
        self, records: pa.RecordBatch, rows: np.ndarray, alert_index: np.ndarray, schema_version: str | None
    ) -> SilverParts:
        """Flatten, conform and validate one decoded batch; failing records become rejects."""
        n = records.num_rows
        names = set(records.schema.names)

        def top(name: str, dtype: pa.DataType) -> pa.Array:
            return cast(records.column(name), dtype) if name in names else pa.nulls(n, dtype)

        candidate = records.column("candidate") if "candidate" in names else None
        if candidate is not None and not pa.types.is_struct(candidate.type):
            candidate = None
        types = canonical()
        cols = {f.name: field_or_null(candidate, f.name, f.type, n) for f in types.candidate}
        recovered = {name: pc.coalesce(top(name, cols[name].type), cols[name]) for name in ALSO_IN_CANDIDATE}
        object_id, candid = top("objectId", pa.string()), cast(recovered["candid"], pa.int64())
        schemavsn = top("schemavsn", pa.string())
        version = (
            pc.coalesce(schemavsn, pa.scalar(schema_version, pa.string())) if schema_version else schemavsn
        )
        night = nights_from_jd(cols["jd"])
        code, reason = self._validate(version, object_id, candid, candidate, cols, night, n)
        row_array = pa.array(rows.astype(np.int32), pa.int32())
        ok, rejects = split_invalid(code, reason, row_array, alert_index, candid, object_id)
        keys = {
            "_row": row_array,
            "night": night,
            "survey": pa.repeat(pa.scalar(self.name), n),
            "schema_version": version,
            "objectId": object_id,
            "candid": candid,
        }
        alerts = {
            **keys,
            "schemavsn": schemavsn,
            "publisher": top("publisher", pa.string()),
            **cols,
            "prv_candidates": top("prv_candidates", types.prv_candidates),
            "fp_hists": top("fp_hists", types.fp_hists),
        }
        cutouts = dict(keys)
        for kind in CUTOUT_KINDS:
            struct = records.column(f"cutout{kind}") if f"cutout{kind}" in names else None
            if struct is not None and not pa.types.is_struct(struct.type):
                struct = None
            cutouts[f"cutout{kind}_fileName"] = field_or_null(struct, "fileName", pa.string(), n)
            cutouts[f"cutout{kind}_stampData"] = field_or_null(struct, "stampData", pa.binary(), n)
        alert_table = _table(alerts, alert_schema())
        cutout_table = _table(cutouts, cutout_schema())
        if rejects.num_rows:
            alert_table, cutout_table = alert_table.filter(ok), cutout_table.filter(ok)
        return SilverParts(alert_table, cutout_table, rejects)

    def _validate(
        self,
        version: pa.Array,
        object_id: pa.Array,
        candid: pa.Array,
        candidate: pa.Array | None,
        cols: dict[str, pa.Array],
        night: pa.Array,
        n: int,
    ) -> tuple[pa.Array, pa.Array]:
        """Per-record reject code and reason (null when the record is fine), first failing check wins."""
        supported = pa.array(self.supported_versions, pa.string())
        bad_version = pc.invert(pc.fill_null(pc.is_in(version, value_set=supported), False))
        version_text = pc.fill_null(version, "(missing)")
        version_reason = pc.binary_join_element_wise(
            "schema version ",
            version_text,
            f" is not a supported ZTF version ({', '.join(self.supported_versions)})",
            "",
        )
        no_candidate = pa.array(np.ones(n, bool)) if candidate is None else candidate.is_null()
        missing_parts = [
            labelled(
                pc.or_(object_id.is_null(), pc.fill_null(pc.equal(object_id, ""), False)),
                "objectId is missing",
            ),
            labelled(candid.is_null(), "candid is missing (neither at the top level nor in candidate)"),
            labelled(no_candidate, "candidate is missing"),
        ] + [
            labelled(pc.and_not(cols[name].is_null(), no_candidate), f"candidate.{name} is missing")
            for name in REQUIRED_CANDIDATE
        ]
        missing_reason = join_reasons(missing_parts, "; ")
        finite_parts = [
            labelled(non_finite(cols[name]), f"candidate.{name} is NaN or infinite")
            for name in FINITE_CANDIDATE
        ]
        finite_parts.append(
            labelled(pc.and_(night.is_null(), cols["jd"].is_valid()), "candidate.jd is not a usable date")
        )
        finite_reason = join_reasons(finite_parts, "; ")
        return reject_code(bad_version, version_reason, missing_reason, finite_reason)


def _table(columns: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
