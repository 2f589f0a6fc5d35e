"""Writing a night's export folder and swapping it in: fsspec filesystems, atomic where the store allows.

Local roots: the night is written under `<base>/_tmp/`, then exchanged with the published folder in one
`renameat2(RENAME_EXCHANGE)` (Linux; readers see the old night or the new one, never a mix), falling back
to two renames (the night is absent for an instant, never partial). Object stores have no rename: the
manifest is removed first, the new files are copied in, files the new export no longer has are deleted,
and the manifest is copied last, so a reader that trusts only folders whose manifest verifies never reads
a partial or mixed night; it may find the night without a manifest while the swap runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import uuid
from typing import Any

from siskin.errors import LakeError
from siskin.exports.paths import Target

MANIFEST = "_manifest.json"
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def filesystem(uri: str) -> tuple[Any, str]:
    """An fsspec filesystem and the in-filesystem path for a `file://` or `s3://` URI.

    S3 goes through s3fs when installed, else through Arrow's S3 filesystem wrapped for fsspec (both read
    the standard `AWS_*` variables, `AWS_ENDPOINT_URL` included).
    """
    import fsspec

    scheme, rest = uri.split("://", 1)
    if scheme == "file":
        return fsspec.filesystem("file"), rest
    try:
        import s3fs  # noqa: F401

        return fsspec.filesystem("s3"), rest
    except ImportError:
        import pyarrow.fs as pafs
        from fsspec.implementations.arrow import ArrowFSWrapper

        arrow_fs, path = pafs.FileSystem.from_uri(uri)
        return ArrowFSWrapper(arrow_fs), path


def staging(target: Target) -> str:
    """A fresh temporary folder URI for one run of the night (beside the published one)."""
    night = target.night_dir.rsplit("/", 1)[1]
    return f"{target.base}/_tmp/{night}.{uuid.uuid4().hex[:12]}"


def write_file(uri: str, data: bytes) -> None:
    fs, path = filesystem(uri)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "wb") as fh:
        fh.write(data)


def read_file(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open(path, "rb") as fh:
        return bytes(fh.read())


def list_files(uri: str) -> list[str]:
    """Relative names of the files under a folder URI (recursively); empty when it does not exist."""
    fs, path = filesystem(uri)
    if not fs.exists(path):
        return []
    found = fs.find(path)
    prefix = path.rstrip("/") + "/"
    return sorted(p[len(prefix) :] if p.startswith(prefix) else p for p in found)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two local paths (Linux renameat2); False where the kernel or filesystem cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE)
    return result == 0


def publish(staged: str, target: Target) -> None:
    """Replace the night's published folder with the staged one (see the module text for atomicity)."""
    if target.local:
        _publish_local(staged.split("://", 1)[1], target.night_dir.split("://", 1)[1])
    else:
        _publish_object_store(staged, target)


def _publish_local(staged: str, final: str) -> None:
    os.makedirs(os.path.dirname(final), exist_ok=True)
    if not os.path.lexists(final):
        os.rename(staged, final)
    elif _exchange(staged, final):
        shutil.rmtree(staged)  # after the exchange, `staged` holds the previous export
    else:
        old = staged + ".old"
        os.rename(final, old)
        os.rename(staged, final)
        shutil.rmtree(old)
    _drop_empty(os.path.dirname(staged))


def _drop_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _publish_object_store(staged: str, target: Target) -> None:
    fs, staged_path = filesystem(staged)
    _, final_path = filesystem(target.night_dir)
    new = list_files(staged)
    if MANIFEST not in new:
        raise LakeError(f"staged export {staged} has no manifest; not published")
    old = list_files(target.night_dir)
    if MANIFEST in old:
        fs.rm_file(f"{final_path}/{MANIFEST}")  # from here the night reads as incomplete
    for name in new:
        if name != MANIFEST:
            fs.copy(f"{staged_path}/{name}", f"{final_path}/{name}")
    for name in old:
        if name not in new:
            fs.rm_file(f"{final_path}/{name}")
    fs.copy(f"{staged_path}/{MANIFEST}", f"{final_path}/{MANIFEST}")  # complete again: manifest last
    for name in new:
        fs.rm_file(f"{staged_path}/{name}")


def discard(staged: str) -> None:
    """Remove a staged folder after a failed run (the published night is untouched)."""
    fs, path = filesystem(staged)
    if fs.exists(path):
        fs.rm(path, recursive=True)
