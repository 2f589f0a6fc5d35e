"""Streaming source over alert archives: Avro files, folders of them, and `.tar.gz` nights.

`readStream.format("siskin_files")` watches one or more paths (files or landing folders).
Every *complete* file it discovers (unchanged over two listings `stableSeconds` apart; see
`siskin.sources.landing`) is appended to a manifest kept in the query's checkpoint folder, and the
offset is a position in that manifest: a restarted query re-reads exactly the same files for an
unfinished batch and never a finished one. Tarballs (the ZTF public archive: one night per
`.tar.gz`) are streamed member by member, never loaded whole; a file that cannot be read whole
becomes a row with a `source_error` (see `siskin.sources.archive_read`), so one bad file never
fails a batch.

Options: `paths` (JSON list), `manifest` (file path, inside the checkpoint), `maxFilesPerTrigger`,
`stableSeconds` (default 2).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxFiles,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from siskin.errors import ConfigurationError
from siskin.sources.archive_read import RECEIVED_FILE_SCHEMA, read_found
from siskin.sources.landing import FoundFile, Manifest, StabilityGate, discover

__all__ = ["ArchiveFilesSource", "FoundFile", "Manifest", "discover", "read_found"]

log = logging.getLogger(__name__)

DEFAULT_STABLE_SECONDS = 2.0
SETTLE_MAX_SECONDS = 60.0  # an available-now run waits at most this long for files still being written


class FilesPartition(InputPartition):
    """Files one task reads."""

    def __init__(self, files: list[FoundFile]) -> None:
        super().__init__(None)
        self.files = files


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
        stable = float(options.get("stableseconds", DEFAULT_STABLE_SECONDS))
        if stable < 0:
            raise ConfigurationError(f"stableSeconds must be >= 0, not {stable}")
        self.gate = StabilityGate(stable)
        self._frozen_end: int | None = None

    def _admit(self) -> None:
        """List the paths; files complete since an earlier listing join the manifest."""
        listing = self.manifest.unknown(discover(self.paths))
        self.manifest.extend(self.gate.admit(listing, time.monotonic()))

    def initialOffset(self) -> dict:  # noqa: N802
        return {"index": 0}

    def getDefaultReadLimit(self) -> ReadLimit:  # noqa: N802
        return ReadMaxFiles(self.max_files)

    def prepareForTriggerAvailableNow(self) -> None:  # noqa: N802
        """Take every file there now, once complete: wait for files still being written, within reason."""
        self._admit()
        wait = max(SETTLE_MAX_SECONDS, 3 * self.gate.seconds)
        deadline = time.monotonic() + wait
        while self.gate.pending and time.monotonic() < deadline:
            time.sleep(min(max(self.gate.seconds, 0.05), max(0.0, deadline - time.monotonic())))
            self._admit()
        if self.gate.pending:
            log.warning(
                "%d file(s) still changing after %.0f s are left for a later run: %s",
                len(self.gate.pending),
                wait,
                ", ".join(sorted(self.gate.pending)[:10]),
            )
        self._frozen_end = len(self.manifest.entries)

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:  # noqa: N802
        if self._frozen_end is None:
            self._admit()
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
