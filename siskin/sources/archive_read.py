"""Reading listed files and tarballs into received rows, in Spark tasks; a bad file is a row, never a crash.

Every listed file yields its alert payloads (one row per file, or per tar member) or, where it cannot
be read whole, one row with `source_error = "<reason_code>: <message>"` that silver turns into a
`silver.rejects` row. The same file yields the same rows on every retry. Reason codes:

- `corrupt_archive`: a tarball is damaged or cut short (bad gzip/bzip2/xz data or checksum, a broken
  member header, a member or the archive ending early, data after the end-of-archive marker). The
  members before the damage are emitted normally; the error row names the member being read when it
  broke (`file_member`) and carries its partial bytes when they are at most `QUARANTINE_BYTES_MAX`.
- `file_vanished`: listed, but gone when a task came to read it.
- `file_changed`: its size or mtime differ from the listing (rewritten in place after it was listed
  as complete): nothing is read from that version; the new version is listed anew once complete.
- `file_unreadable`: an I/O error other than a missing file (permissions, a device error) that
  persists over `READ_ATTEMPTS` tries.
- `oversized`: a file or tar member larger than `MAX_FILE_BYTES`; never read into memory.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO, Self, cast

import pyarrow as pa
import pyarrow.fs as pafs

from siskin.lake.parquet_files import filesystem_for
from siskin.sources.landing import ARCHIVE_SUFFIXES, FoundFile, wanted

log = logging.getLogger(__name__)

CORRUPT_ARCHIVE = "corrupt_archive"
FILE_VANISHED = "file_vanished"
FILE_CHANGED = "file_changed"
FILE_UNREADABLE = "file_unreadable"
OVERSIZED = "oversized"
SOURCE_REASON_CODES = (CORRUPT_ARCHIVE, FILE_VANISHED, FILE_CHANGED, FILE_UNREADABLE, OVERSIZED)

RECEIVED_FILE_SCHEMA = (
    "file_path string, file_member string, file_mtime timestamp, payload binary, source_error string"
)
RECEIVED_FILE_ARROW = pa.schema(
    [
        pa.field("file_path", pa.string()),
        pa.field("file_member", pa.string()),
        pa.field("file_mtime", pa.timestamp("us", tz="UTC")),
        pa.field("payload", pa.binary()),
        pa.field("source_error", pa.string()),
    ]
)
MAX_FILE_BYTES = 512 * 1024 * 1024  # one file or member: far above any alert, well below Arrow's 2 GiB
QUARANTINE_BYTES_MAX = 1024 * 1024  # partial member bytes kept in a `corrupt_archive` row
MEMBERS_PER_BATCH = 200
BATCH_BYTES_MAX = 64 * 1024 * 1024
READ_ATTEMPTS = 3
_CHUNK = 1024 * 1024
_MEMBER_CHUNK = 64 * 1024  # members are read in pieces, so a cut one keeps the bytes before the cut
_HEADER_ERROR = tarfile.HeaderError

Row = tuple[str, str | None, datetime, bytes | None, str | None]


class _SourceError(Exception):
    """The filesystem failed a read (as opposed to the bytes being bad)."""


class _Damaged(Exception):
    """The archive's structure is broken in a way Python's lenient stream reader would pass over."""


class _Listed:
    """The listed bytes of a file, read forward: never past the listed size; I/O errors kept apart."""

    def __init__(self, stream: pa.NativeFile, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0
        self.head = b""

    def peek(self, n: int) -> bytes:
        if len(self.head) < n:
            self.head += self._raw(n - len(self.head))
        return self.head[:n]

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size
        out, self.head = self.head[:n], self.head[n:]
        if len(out) < n:
            out += self._raw(n - len(out))
        return out

    def _raw(self, n: int) -> bytes:
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        try:
            data = self.stream.read(n)
        except OSError as exc:
            raise _SourceError(str(exc)) from exc
        self.pos += len(data)
        return bytes(data)


# `tarfile`'s header errors (public since Python 3.2, absent from the type stubs)
_END_MARKER, _NO_HEADER, _CUT_HEADER = (
    vars(tarfile)[name] for name in ("EOFHeaderError", "EmptyHeaderError", "TruncatedHeaderError")
)


class _StrictTarInfo(tarfile.TarInfo):
    """Header reader that reports what `tarfile` silently treats as the end of the archive."""

    @classmethod
    def fromtarfile(cls, tarfile: tarfile.TarFile) -> Self:
        at = tarfile.offset
        try:
            return super().fromtarfile(tarfile)
        except _HEADER_ERROR as exc:
            if at == 0 or isinstance(exc, _END_MARKER):
                raise
            if isinstance(exc, _NO_HEADER):
                raise _Damaged(f"archive ends at byte {at} without its end-of-archive marker") from exc
            if isinstance(exc, _CUT_HEADER):
                raise _Damaged(f"archive ends inside the member header at byte {at}") from exc
            raise _Damaged(f"invalid member header at byte {at} ({exc})") from exc


def _decompressed(src: _Listed) -> BinaryIO:
    """The tar stream inside: gzip, bzip2 or xz by magic number (checksums verified), else as is."""
    raw = cast(BinaryIO, src)  # `_Listed` has the forward `read` these readers use
    magic = src.peek(6)
    if magic[:2] == b"\x1f\x8b":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    if magic[:3] == b"BZh":
        return cast(BinaryIO, bz2.BZ2File(raw, "rb"))
    if magic == b"\xfd7zXZ\x00":
        return cast(BinaryIO, lzma.LZMAFile(raw, "rb"))
    return raw


def _open(fs: pafs.FileSystem, path: str) -> pa.NativeFile:
    """Open for a forward read, retrying transient I/O errors; a missing file raises FileNotFoundError."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return fs.open_input_stream(path, compression=None, buffer_size=_CHUNK)
        except FileNotFoundError:
            raise
        except OSError:
            if _missing(fs, path):
                raise FileNotFoundError(path) from None
            if attempt + 1 == READ_ATTEMPTS:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _missing(fs: pafs.FileSystem, path: str) -> bool:
    try:
        return bool(fs.get_file_info(path).type == pafs.FileType.NotFound)
    except OSError:
        return False


def _same_version(f: FoundFile, size: int, mtime_ns: int) -> bool:
    """Same size, and mtime to the second (object stores list milliseconds but answer HEAD in seconds)."""
    return size == f.size and mtime_ns // 1_000_000_000 == f.mtime_ns // 1_000_000_000


def _error_row(f: FoundFile, mtime: datetime, code: str, message: str, member: str | None = None) -> Row:
    return (f.path, member, mtime, None, f"{code}: {message}")


def _unreadable(f: FoundFile, mtime: datetime, fs: pafs.FileSystem, path: str, exc: BaseException) -> Row:
    if isinstance(exc, FileNotFoundError) or _missing(fs, path):
        return _error_row(f, mtime, FILE_VANISHED, f"listed with {f.size} bytes, gone when read")
    return _error_row(f, mtime, FILE_UNREADABLE, f"{type(exc).__name__}: {exc}")


def loose_rows(f: FoundFile) -> Iterator[Row]:
    """One row: the file's bytes, or why it has none."""
    mtime = datetime.fromtimestamp(f.mtime_ns / 1e9, UTC)
    fs, path = filesystem_for(f.path)
    if f.size > MAX_FILE_BYTES:
        yield _error_row(
            f, mtime, OVERSIZED, f"file of {f.size} bytes exceeds the {MAX_FILE_BYTES}-byte limit"
        )
        return
    data = b""
    for attempt in range(READ_ATTEMPTS):
        try:
            with _open(fs, path) as stream:
                data = stream.read(f.size + 1)  # one byte more than listed shows a file that grew
            break
        except FileNotFoundError as exc:
            yield _unreadable(f, mtime, fs, path, exc)
            return
        except OSError as exc:
            if attempt + 1 == READ_ATTEMPTS:
                yield _unreadable(f, mtime, fs, path, exc)
                return
            time.sleep(0.5 * (attempt + 1))
    if len(data) != f.size:
        message = f"listed with {f.size} bytes, read {'more' if len(data) > f.size else len(data)}"
        yield _error_row(f, mtime, FILE_CHANGED, message)
        return
    yield (f.path, None, mtime, bytes(data), None)


def archive_rows(f: FoundFile) -> Iterator[Row]:
    """One row per alert member; the members before any damage, then one row saying what broke."""
    mtime = datetime.fromtimestamp(f.mtime_ns / 1e9, UTC)
    fs, path = filesystem_for(f.path)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(path)
        if not _same_version(f, int(info.size or 0), int(info.mtime_ns or 0)):
            message = f"listed with {f.size} bytes (mtime_ns {f.mtime_ns}), now {info.size} ({info.mtime_ns})"
            yield _error_row(f, mtime, FILE_CHANGED, message)
            return
        stream = _open(fs, path)
    except OSError as exc:
        yield _unreadable(f, mtime, fs, path, exc)
        return
    members = 0
    member: str | None = None
    partial: list[bytes] = []
    with stream:
        src = _Listed(stream, f.size)
        try:
            inner = _decompressed(src)
            with tarfile.open(fileobj=inner, mode="r|", tarinfo=_StrictTarInfo) as tar:
                for entry in tar:
                    if not entry.isfile() or not wanted(entry.name) or entry.name.endswith(ARCHIVE_SUFFIXES):
                        continue
                    if entry.size > MAX_FILE_BYTES:
                        message = f"member of {entry.size} bytes exceeds the {MAX_FILE_BYTES}-byte limit"
                        yield _error_row(f, mtime, OVERSIZED, message, entry.name)
                        continue
                    member, partial = entry.name, []
                    data = tar.extractfile(entry)
                    assert data is not None, "regular members always have data"
                    while chunk := data.read(_MEMBER_CHUNK):
                        partial.append(chunk)
                    payload = b"".join(partial)
                    if len(payload) != entry.size:
                        raise _Damaged(f"member holds {len(payload)} of its {entry.size} bytes")
                    yield (f.path, member, mtime, payload, None)
                    members += 1
                    member, partial = None, []
                _check_end(tar)
        except _SourceError as exc:
            yield _unreadable(f, mtime, fs, path, exc)
        except Exception as exc:  # noqa: BLE001 - any parse failure of these bytes is the archive's fault
            yield _corrupt_row(f, mtime, exc, members, member, partial, src)


def _check_end(tar: tarfile.TarFile) -> None:
    """Read past the end-of-archive marker: only zero padding may follow (the read also checks the CRC)."""
    stream = tar.fileobj
    assert stream is not None
    while chunk := stream.read(_CHUNK):
        if chunk.count(0) != len(chunk):
            raise _Damaged("data follows the end-of-archive marker: members after it would be lost")


def _corrupt_row(
    f: FoundFile,
    mtime: datetime,
    exc: Exception,
    members: int,
    member: str | None,
    partial: list[bytes],
    src: _Listed,
) -> Row:
    """The `corrupt_archive` row: where it broke, and the cut member's bytes when they are small."""
    what = str(exc) if isinstance(exc, _Damaged) else f"{type(exc).__name__}: {exc}"
    where = f"after {members} member(s), at byte {src.pos} of {f.size}"
    if member is not None:
        where += f", inside member {member}"
    kept = sum(len(p) for p in partial)
    payload = b"".join(partial) if member is not None and 0 < kept <= QUARANTINE_BYTES_MAX else None
    return (f.path, member, mtime, payload, f"{CORRUPT_ARCHIVE}: {what} ({where})")


def _batch(rows: list[Row]) -> pa.RecordBatch:
    paths, members, mtimes, payloads, errors = zip(*rows, strict=True)
    columns = (paths, members, mtimes, payloads, errors)
    arrays = [pa.array(c, f.type) for c, f in zip(columns, RECEIVED_FILE_ARROW, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=RECEIVED_FILE_ARROW)


def read_found(files: list[FoundFile]) -> Iterator[pa.RecordBatch]:
    """Yield the rows of `files` in batches bounded by row count and bytes."""
    rows: list[Row] = []
    size = 0
    for f in files:
        for row in archive_rows(f) if f.is_archive else loose_rows(f):
            if row[4] is not None:
                log.warning("%s%s: %s", f.path, f" [{row[1]}]" if row[1] else "", row[4])
            rows.append(row)
            size += len(row[3] or b"")
            if len(rows) >= MEMBERS_PER_BATCH or size >= BATCH_BYTES_MAX:
                yield _batch(rows)
                rows, size = [], 0
    if rows:
        yield _batch(rows)
