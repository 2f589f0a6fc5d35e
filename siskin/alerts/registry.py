"""Survey codecs: one small class per survey (ZTF, Rubin) behind one abstract base.

The decoder is survey-independent: it frames payloads, groups records by writer schema and asks
DataFusion for Arrow. A codec says which writer schemas are its alerts, which schema to assume for
schemaless payloads, and how its decoded records map onto the silver tables. Adding a survey means
adding one module that defines a `SurveyCodec` subclass decorated with `@register`, and naming that
module in `BUILTIN_MODULES`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pyarrow as pa

from siskin.config import DecodeSettings, QualityCuts
from siskin.errors import ConfigurationError

BUILTIN_MODULES = ("siskin.alerts.ztf", "siskin.alerts.rubin")
FieldPath = tuple[str, ...]


class PeekPaths(NamedTuple):
    """Where the bronze peek finds an alert's ids, version and observation time (field paths)."""

    object_id: tuple[str, ...]
    candid: tuple[str, ...]
    schema_version: tuple[str, ...]
    time: tuple[str, ...]


class PeekRow(NamedTuple):
    """What the bronze peek reports of an alert's first record (None where unknown)."""

    schema_version: str | None
    object_id: str | None
    candid: int | None
    time: float | None


def _typed(value: Any, kind: type) -> Any:
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class SilverParts:
    """What a codec makes of one decoded record batch: alerts, cutouts and per-record rejects."""

    alerts: pa.Table
    cutouts: pa.Table
    rejects: pa.Table


class SurveyCodec(ABC):
    """The survey-specific part of decoding: recognise, default, and map records to silver."""

    name: ClassVar[str]
    silver_table: ClassVar[str]  # the catalog table its decoded alerts land in
    silver_description: ClassVar[str]
    alert_key: ClassVar[str]  # unique per alert: silver deduplicates on it
    object_key: ClassVar[str]  # the object an alert belongs to
    supported_versions: ClassVar[tuple[str, ...]]
    peek_paths: ClassVar[PeekPaths]
    extra_peek_paths: ClassVar[tuple[FieldPath, ...]] = ()

    @abstractmethod
    def recognises(self, schema: Mapping[str, Any]) -> bool:
        """Whether a (parsed, inlined) writer schema is an alert of this survey."""

    def writer_version(self, schema: Mapping[str, Any]) -> str | None:
        """The schema version a (parsed, inlined) writer schema declares: its `version` attribute."""
        version = schema.get("version")
        return str(version) if version is not None else None

    def names_version(self, version: str) -> bool:
        """Whether a configured version string (`decode.confluent_schema_ids` value) names this survey."""
        return version in self.supported_versions

    @property
    def peek_fields(self) -> tuple[FieldPath, ...]:
        """Every field path the peek reads from a record's first bytes."""
        return (*self.peek_paths, *self.extra_peek_paths)

    def peek_row(self, found: Mapping[FieldPath, Any], writer_version: str | None) -> PeekRow:
        """The peek's values from the fields read at `peek_fields` (wrongly typed values become None)."""
        paths = self.peek_paths
        time = found[paths.time]
        return PeekRow(
            _typed(found[paths.schema_version], str) or writer_version,
            _typed(found[paths.object_id], str),
            _typed(found[paths.candid], int),
            float(time) if isinstance(time, (int, float)) and not isinstance(time, bool) else None,
        )

    @abstractmethod
    def bundled_schema(self, version: str, settings: DecodeSettings) -> bytes | None:
        """The JSON writer schema of `version` (Confluent-framed and schemaless payloads), None if unknown.

        A codec may raise `DecodeError("unknown_schema_version", ...)` instead, to say what to configure.
        """

    @abstractmethod
    def default_version(self, settings: DecodeSettings) -> str:
        """The schema version assumed for payloads that carry no schema of their own."""

    @abstractmethod
    def nights(self, times: pa.Array) -> pa.Array:
        """Observing night (int32 YYYYMMDD) of each observation time read at `peek_paths.time`."""

    @abstractmethod
    def alert_schema(self) -> pa.Schema:
        """Arrow schema of the decoded alerts table (starts with `_row`)."""

    @abstractmethod
    def cutout_schema(self) -> pa.Schema:
        """Arrow schema of the cutouts table (starts with `_row`)."""

    @abstractmethod
    def quality_flags(self, alerts: pa.Table, cuts: QualityCuts) -> tuple[pa.Array, pa.Array]:
        """(quality_ok, quality_reason) per decoded alert: a flag and every failed cut, never a filter."""

    @abstractmethod
    def to_silver(
        self, records: pa.RecordBatch, rows: np.ndarray, alert_index: np.ndarray, schema_version: str | None
    ) -> SilverParts:
        """Validate and flatten records decoded with one writer schema (`rows`: source payload index)."""


_CODECS: dict[str, SurveyCodec] = {}


def register(cls: type[SurveyCodec]) -> type[SurveyCodec]:
    """Class decorator adding a codec to the registry under its `name`."""
    _CODECS[cls.name] = cls()
    return cls


def codecs() -> list[SurveyCodec]:
    """Every registered codec, importing the built-in survey modules on first use."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    return list(_CODECS.values())


def get_codec(name: str) -> SurveyCodec:
    """The codec of survey `name`; ConfigurationError naming the known surveys otherwise."""
    known = {codec.name: codec for codec in codecs()}
    if name not in known:
        raise ConfigurationError(f"unknown survey {name!r}; known surveys: {', '.join(sorted(known))}")
    return known[name]


def codec_naming(version: str, default: SurveyCodec) -> SurveyCodec:
    """The codec whose schema versions include `version` (a configured Confluent mapping), else `default`."""
    for codec in codecs():
        if codec.names_version(version):
            return codec
    return default


def codec_for(schema: Mapping[str, Any]) -> SurveyCodec | None:
    """The codec recognising a writer schema, None for a schema no survey claims."""
    for codec in codecs():
        if codec.recognises(schema):
            return codec
    return None
