"""What a watched landing path holds that is ready to read: listing, the stability gate and the manifest.

A file is *complete* when two listings at least `stable_seconds` apart saw the same size and mtime; only
complete files enter the manifest, so no task ever reads a file that is still being copied in. Hidden
names (`.x`), `_`-prefixed ones (`_temporary/`) and partial-download suffixes are never listed at all:
a writer that renames its finished file into place is picked up on the next listings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pyarrow.fs as pafs

from siskin.errors import ConfigurationError
from siskin.lake.parquet_files import filesystem_for

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ALERT_SUFFIXES = (".avro",)
# in-progress names of common copy tools; such names never end in an alert suffix, listed for the docs
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".download")
IGNORED_PREFIXES = (".", "_")

FileKey = tuple[str, int, int]


@dataclass(frozen=True)
class FoundFile:
    """A discovered input file: a new size or mtime makes it a new version with a new key."""

    path: str
    size: int
    mtime_ns: int

    @property
    def is_archive(self) -> bool:
        return self.path.endswith(ARCHIVE_SUFFIXES)

    @property
    def key(self) -> FileKey:
        return (self.path, self.size, self.mtime_ns)


def wanted(relative: str) -> bool:
    """An alert file or archive, not hidden anywhere below the watched root and not a partial download."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p.startswith(IGNORED_PREFIXES) for p in parts):
        return False
    name = parts[-1]
    return name.endswith(ALERT_SUFFIXES + ARCHIVE_SUFFIXES) and not name.endswith(PARTIAL_SUFFIXES)


def discover(paths: list[str]) -> list[FoundFile]:
    """All alert files and archives under `paths`, sorted by (mtime, path) for a stable order."""
    found: list[FoundFile] = []
    for p in paths:
        fs, root = filesystem_for(p)
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise ConfigurationError(f"input path {p} does not exist")
        prefix = p[: len(p) - len(root)] if "://" in p else ""
        if info.type == pafs.FileType.File:
            infos, base = [info], root.rsplit("/", 1)[0]
        else:
            infos, base = fs.get_file_info(pafs.FileSelector(root, recursive=True)), root
        for i in infos:
            if i.type == pafs.FileType.File and wanted(i.path[len(base) :]):
                found.append(FoundFile(prefix + i.path, int(i.size or 0), int(i.mtime_ns or 0)))
    return sorted(set(found), key=lambda f: (f.mtime_ns, f.path))


@dataclass
class StabilityGate:
    """Admits a file once two listings at least `seconds` apart saw it with the same size and mtime."""

    seconds: float
    pending: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # path -> size, mtime, since

    def admit(self, listing: list[FoundFile], now: float) -> list[FoundFile]:
        """Files of `listing` that stopped changing; the others wait (any change restarts their clock)."""
        ready: list[FoundFile] = []
        pending: dict[str, tuple[int, int, float]] = {}
        for f in listing:
            seen = self.pending.get(f.path)
            if seen is not None and seen[:2] == (f.size, f.mtime_ns):
                if now - seen[2] >= self.seconds:
                    ready.append(f)
                    continue
                pending[f.path] = seen
            else:
                pending[f.path] = (f.size, f.mtime_ns, now)
        self.pending = pending  # a file gone from the listing is forgotten
        return ready


class Manifest:
    """The append-only list of complete files a query has planned, persisted beside its checkpoint."""

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
        self.known: set[FileKey] = {e.key for e in self.entries}

    def unknown(self, files: list[FoundFile]) -> list[FoundFile]:
        """Files (or new versions of files) not in the manifest yet."""
        return [f for f in files if f.key not in self.known]

    def extend(self, files: list[FoundFile]) -> None:
        new = self.unknown(files)
        if not new:
            return
        self.entries.extend(new)
        self.known.update(f.key for f in new)
        text = "".join(json.dumps(asdict(f)) + "\n" for f in self.entries)
        parent = self.fs_path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = self.fs_path + ".tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(text.encode())
        self.fs.move(tmp, self.fs_path)
