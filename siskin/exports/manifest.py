"""The manifest written last into every exported night: what a reader checks before trusting the files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from siskin.errors import LakeError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ExportedFile:
    """One data file of an export: its name in the night folder, rows, bytes and sha256."""

    path: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """A complete export of one night: files with checksums, schema, source and the siskin version."""

    spec: str
    who: str
    night: int
    table: str
    format: str
    rows: int
    files: list[ExportedFile]
    schema: list[dict[str, str]]
    where: list[dict[str, Any]]
    siskin_version: str
    created_at: str
    location: str
    manifest_version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data = json.loads(text)
        data["files"] = [ExportedFile(**f) for f in data["files"]]
        return cls(**data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_export(night_dir: str, attempts: int = 5) -> Manifest:
    """Check a night folder against its manifest (every file's size and sha256); a LakeError if incomplete.

    Reading a folder takes several calls, so a rerun may swap the night in between: the manifest is read
    before and after, and the check is repeated when it changed (an optimistic, consistent read).
    """
    from siskin.exports.store import MANIFEST, read_file

    for _ in range(attempts - 1):
        try:
            before = read_file(f"{night_dir}/{MANIFEST}")
        except FileNotFoundError:
            before = b""
        try:
            manifest = _check(night_dir)
        except (LakeError, OSError):
            if _manifest_bytes(night_dir) != before:
                continue  # swapped while we read: read again
            raise
        if _manifest_bytes(night_dir) == before:
            return manifest
    return _check(night_dir)


def _manifest_bytes(night_dir: str) -> bytes:
    from siskin.exports.store import MANIFEST, read_file

    try:
        return read_file(f"{night_dir}/{MANIFEST}")
    except FileNotFoundError:
        return b""


def _check(night_dir: str) -> Manifest:
    from siskin.exports.store import MANIFEST, list_files, read_file

    names = list_files(night_dir)
    if MANIFEST not in names:
        raise LakeError(f"{night_dir}: no {MANIFEST}: the export is incomplete or in progress")
    manifest = Manifest.from_json(read_file(f"{night_dir}/{MANIFEST}"))
    listed = {f.path for f in manifest.files}
    unexpected = sorted(set(names) - listed - {MANIFEST})
    if unexpected:
        raise LakeError(f"{night_dir}: files not in the manifest: {unexpected}")
    for f in manifest.files:
        if f.path not in names:
            raise LakeError(f"{night_dir}: {f.path} is listed in the manifest but missing")
        data = read_file(f"{night_dir}/{f.path}")
        if len(data) != f.bytes or sha256(data) != f.sha256:
            raise LakeError(f"{night_dir}: {f.path} does not match its manifest checksum")
    return manifest
