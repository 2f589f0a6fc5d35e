"""Decode framed Avro records to Arrow with DataFusion: one container file per writer schema.

DataFusion only reads files, so the records are written (null codec, schema with named types inlined)
to a temporary file, in shared memory when the host has it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import pyarrow as pa
from datafusion import SessionConfig, SessionContext

from siskin.alerts.avro_container import Buffer, container_bytes

_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit)


class ArrowDecodeError(Exception):
    """DataFusion could not decode the records (its message says which value failed)."""


def scratch_dir(size: int) -> str | None:
    """/dev/shm when it exists, is writable and has room for `size` bytes twice over, else the default.

    Containers often mount a 64 MB /dev/shm, smaller than one decode batch.
    """
    shm = "/dev/shm"
    try:
        stats = os.statvfs(shm)
    except OSError:
        return None
    if not os.access(shm, os.W_OK) or stats.f_bavail * stats.f_frsize < 2 * size:
        return None
    return shm


def _write_container(schema_json: bytes, blocks: Sequence[tuple[int, Buffer]]) -> str:
    """Write the records to a temporary .avro file, falling back from /dev/shm to the default temp dir."""
    parts = container_bytes(schema_json, blocks)
    size = sum(len(part) for part in parts)
    for directory in dict.fromkeys([scratch_dir(size), None]):
        fd, path = tempfile.mkstemp(suffix=".avro", prefix="siskin-decode-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.writelines(parts)
            return path
        except OSError:
            os.unlink(path)
            if directory is None:
                raise
    raise AssertionError("unreachable")


def read_records(schema_json: bytes, blocks: Sequence[tuple[int, Buffer]]) -> pa.Table:
    """Decode blocks of (count, records bytes) written with `schema_json` into one Arrow table.

    The caller guarantees each block holds exactly `count` well-framed records (see `avro_framer`).
    """
    expected = sum(count for count, _ in blocks)
    path = _write_container(schema_json, blocks)
    try:
        config = SessionConfig().with_target_partitions(1).with_batch_size(max(1024, min(expected, 65536)))
        try:
            table = SessionContext(config).read_avro(path).to_arrow_table()
        except BaseException as exc:  # Rust panics surface as pyo3 PanicException (a BaseException)
            if isinstance(exc, _FATAL):
                raise
            raise ArrowDecodeError(
                str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            ) from exc
    finally:
        os.unlink(path)
    if table.num_rows != expected:
        raise ArrowDecodeError(f"DataFusion decoded {table.num_rows} records where {expected} were framed")
    return table
