"""Streaming source over alert archives: Avro files, folders of them, and `.tar.gz` nights.

`readStream.format("siskin_files")` watches one or more paths (files or landing folders).
Every file it discovers is appended to a manifest kept in the query's checkpoint folder, and the
offset is a position in that manifest: a restarted query re-reads exactly the same files for an
unfinished batch and never a finished one. Tarballs (the ZTF public archive: one night per
`.tar.gz`) are streamed member by member, never loaded whole.

Options: `paths` (JSON list), `manifest` (file path, inside the checkpoint), `maxFilesPerTrigger`.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.fs as pafs
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxFiles,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from siskin.errors import ConfigurationError
from siskin.lake.parquet_files import filesystem_for

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ALERT_SUFFIXES = (".avro",)
RECEIVED_FILE_SCHEMA = "file_path string, file_member string, file_mtime timestamp, payload binary"
MEMBERS_PER_BATCH = 200


@dataclass(frozen=True)
class FoundFile:
    """A discovered input file."""

    path: str
    size: int
    mtime_ns: int

    @property
    def is_archive(self) -> bool:
        return self.path.endswith(ARCHIVE_SUFFIXES)


def _wanted(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and name.endswith(ALERT_SUFFIXES + ARCHIVE_SUFFIXES)


def discover(paths: list[str]) -> list[FoundFile]:
    """All alert files and archives under `paths`, sorted by (mtime, path) for a stable order."""
    found: list[FoundFile] = []
    for p in paths:
        fs, root = filesystem_for(p)
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise ConfigurationError(f"input path {p} does not exist")
        infos = (
            [info]
            if info.type == pafs.FileType.File
            else fs.get_file_info(pafs.FileSelector(root, recursive=True))
        )
        prefix = p[: len(p) - len(root)] if "://" in p else ""
        for i in infos:
            if i.type == pafs.FileType.File and _wanted(i.path):
                found.append(FoundFile(prefix + i.path, int(i.size or 0), int(i.mtime_ns or 0)))
    return sorted(set(found), key=lambda f: (f.mtime_ns, f.path))


class Manifest:
    """The append-only list of files a query has planned, persisted beside its checkpoint."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fs, self.fs_path = filesystem_for(path)
        self.entries: list[FoundFile] = []
        try:
            with self.fs.open_input_stream(self.fs_path) as stream:
                for line in stream.read().decode().splitlines():
                    if line.strip():
                        self.entries.append(FoundFile(**json.loads(line)))
        except (FileNotFoundError, OSError):
            pass
        self.known = {e.path for e in self.entries}

    def extend(self, files: list[FoundFile]) -> None:
        new = [f for f in files if f.path not in self.known]
        if not new:
            return
        self.entries.extend(new)
        self.known.update(f.path for f in new)
        text = "".join(json.dumps(f.__dict__) + "\n" for f in self.entries)
        parent = self.fs_path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = self.fs_path + ".tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(text.encode())
        self.fs.move(tmp, self.fs_path)


class FilesPartition(InputPartition):
    """Files one task reads."""

    def __init__(self, files: list[FoundFile]) -> None:
        super().__init__(None)
        self.files = files


def _batch(rows: list[tuple[str, str | None, datetime, bytes]]) -> pa.RecordBatch:
    paths, members, mtimes, payloads = zip(*rows, strict=True)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(paths, pa.string()),
            pa.array(members, pa.string()),
            pa.array(mtimes, pa.timestamp("us", tz="UTC")),
            pa.array(payloads, pa.binary()),
        ],
        names=["file_path", "file_member", "file_mtime", "payload"],
    )


def read_found(files: list[FoundFile]) -> Iterator[pa.RecordBatch]:
    """Yield one row per alert file or archive member: its path and its bytes, untouched."""
    rows: list[tuple[str, str | None, datetime, bytes]] = []
    for f in files:
        fs, path = filesystem_for(f.path)
        mtime = datetime.fromtimestamp(f.mtime_ns / 1e9, UTC)
        with fs.open_input_stream(path) as stream:
            if not f.is_archive:
                rows.append((f.path, None, mtime, stream.read()))
            else:
                with tarfile.open(fileobj=stream, mode="r|*") as tar:
                    for member in tar:
                        if (
                            member.isfile()
                            and _wanted(member.name)
                            and not member.name.endswith(ARCHIVE_SUFFIXES)
                        ):
                            data = tar.extractfile(member)
                            rows.append((f.path, member.name, mtime, data.read() if data else b""))
                            if len(rows) >= MEMBERS_PER_BATCH:
                                yield _batch(rows)
                                rows = []
        if len(rows) >= MEMBERS_PER_BATCH:
            yield _batch(rows)
            rows = []
    if rows:
        yield _batch(rows)


class ArchiveStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans manifest positions; each partition reads a few files or one archive."""

    def __init__(self, raw: dict[str, str]) -> None:
        options = {k.lower(): v for k, v in raw.items()}
        if "paths" not in options or "manifest" not in options:
            raise ConfigurationError("siskin_files needs options 'paths' (JSON list) and 'manifest'")
        self.paths: list[str] = json.loads(options["paths"])
        self.manifest = Manifest(options["manifest"])
        self.max_files = int(options.get("maxfilespertrigger", "500"))
        self.files_per_partition = int(options.get("filesperpartition", "100"))
        self._frozen_end: int | None = None

    def initialOffset(self) -> dict:  # noqa: N802
        return {"index": 0}

    def getDefaultReadLimit(self) -> ReadLimit:  # noqa: N802
        return ReadMaxFiles(self.max_files)

    def prepareForTriggerAvailableNow(self) -> None:  # noqa: N802
        self.manifest.extend(discover(self.paths))
        self._frozen_end = len(self.manifest.entries)

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:  # noqa: N802
        if self._frozen_end is None:
            self.manifest.extend(discover(self.paths))
        end = len(self.manifest.entries) if self._frozen_end is None else self._frozen_end
        begin = int(start["index"])
        if not isinstance(limit, ReadAllAvailable):
            budget = limit.max_files if isinstance(limit, ReadMaxFiles) else self.max_files
            end = min(end, begin + budget)
        return {"index": max(begin, end)}

    def partitions(self, start: dict, end: dict) -> list[FilesPartition]:
        entries = self.manifest.entries[int(start["index"]) : int(end["index"])]
        parts: list[FilesPartition] = []
        loose: list[FoundFile] = []
        for f in entries:
            if f.is_archive:
                parts.append(FilesPartition([f]))
            else:
                loose.append(f)
                if len(loose) >= self.files_per_partition:
                    parts.append(FilesPartition(loose))
                    loose = []
        if loose:
            parts.append(FilesPartition(loose))
        return parts

    def read(self, partition: FilesPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        yield from read_found(partition.files)


class ArchiveFilesSource(DataSource):
    """`spark.readStream.format("siskin_files").option("paths", json.dumps([...]))`."""

    @classmethod
    def name(cls) -> str:
        return "siskin_files"

    def schema(self) -> str:
        return RECEIVED_FILE_SCHEMA

    def streamReader(self, schema: StructType) -> ArchiveStreamReader:  # noqa: N802
        return ArchiveStreamReader(dict(self.options))
