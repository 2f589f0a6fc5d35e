"""Leases in the lake: one writer at a time for the tables a stream or a replay rewrites.

A lease is a small JSON file under `<lake>/_leases/<name>.json` naming its holder (command, host, pid,
start and heartbeat times). Taking a held lease fails with an error naming the holder. A lease whose
holder is gone (same host and its pid is dead, or no heartbeat for `stale_after_s`) is taken over. The
holder refreshes the heartbeat from a background thread. Local lakes get an atomic create (O_EXCL);
on object stores the lease is best-effort (write, then read back that we won).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from typing import Any

from siskin.errors import LeaseHeldError
from siskin.lake.parquet_files import filesystem_for

STALE_AFTER_S = 60.0
HEARTBEAT_S = 10.0

_held: weakref.WeakSet[Lease] = weakref.WeakSet()


@atexit.register  # registered after pyarrow.fs's own handler, so it runs first
def _release_at_exit() -> None:
    """Stop every heartbeat and give the leases up before Arrow finalizes S3 at exit: a heartbeat
    still talking to S3 then aborts the process (SIGABRT/SIGSEGV), turning a finished command's 0
    into a crash."""
    for lease in list(_held):
        lease.release()


@dataclass(frozen=True)
class Holder:
    """Who holds a lease."""

    token: str
    command: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float

    def describe(self) -> str:
        age = time.time() - self.heartbeat_at
        return (
            f"{self.command!r} (pid {self.pid} on {self.host}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(self.started_at))} UTC, "
            f"last heartbeat {age:.0f} s ago)"
        )


def lease_path(lake_uri: str, name: str) -> str:
    return f"{lake_uri.rstrip('/')}/_leases/{name}.json"


def read_holder(lake_uri: str, name: str) -> Holder | None:
    """The current holder of a lease, or None when it is free."""
    fs, path = filesystem_for(lease_path(lake_uri, name))
    try:
        with fs.open_input_stream(path) as stream:
            data: dict[str, Any] = json.loads(stream.read().decode())
        return Holder(**data)
    except (FileNotFoundError, OSError, ValueError, TypeError):
        return None


def _alive(holder: Holder, stale_after_s: float) -> bool:
    """Same host: whether its process still runs (a zombie counts as gone). Elsewhere: a recent heartbeat."""
    if holder.host == socket.gethostname():
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            with open(f"/proc/{holder.pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
        except OSError:
            return True
    return time.time() - holder.heartbeat_at < stale_after_s


class Lease:
    """A held lease; release it with `release()` or use it as a context manager."""

    def __init__(self, lake_uri: str, name: str, holder: Holder) -> None:
        self.lake_uri = lake_uri
        self.name = name
        self.holder = holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"siskin-lease-{name}", daemon=True)
        self._thread.start()
        _held.add(self)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            current = read_holder(self.lake_uri, self.name)
            if current is None or current.token != self.holder.token:
                return  # taken over (we were considered dead): stop refreshing
            self.holder = Holder(**{**asdict(self.holder), "heartbeat_at": time.time()})
            _write(self.lake_uri, self.name, self.holder, exclusive=False)

    def release(self) -> None:
        """Give the lease up (only if we still hold it); returns once the heartbeat has stopped."""
        self._stop.set()
        _held.discard(self)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30.0)
        current = read_holder(self.lake_uri, self.name)
        if current is not None and current.token == self.holder.token:
            fs, path = filesystem_for(lease_path(self.lake_uri, self.name))
            try:
                fs.delete_file(path)
            except (FileNotFoundError, OSError):
                pass

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _write(lake_uri: str, name: str, holder: Holder, *, exclusive: bool) -> bool:
    uri = lease_path(lake_uri, name)
    data = json.dumps(asdict(holder)).encode()
    if "://" not in uri:
        os.makedirs(os.path.dirname(uri), exist_ok=True)
        if exclusive:
            try:
                fd = os.open(uri, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return True
        tmp = f"{uri}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, uri)
        return True
    fs, path = filesystem_for(uri)
    if exclusive and read_holder(lake_uri, name) is not None:
        return False
    with fs.open_output_stream(path) as out:
        out.write(data)
    won = read_holder(lake_uri, name)
    return won is not None and won.token == holder.token


def acquire(
    lake_uri: str, names: list[str], command: str, *, stale_after_s: float = STALE_AFTER_S
) -> list[Lease]:
    """Take every named lease or none; LeaseHeldError naming the holder when one is held by a live process."""
    taken: list[Lease] = []
    try:
        for name in names:
            now = time.time()
            holder = Holder(uuid.uuid4().hex, command, socket.gethostname(), os.getpid(), now, now)
            if not _write(lake_uri, name, holder, exclusive=True):
                current = read_holder(lake_uri, name)
                mine = current is not None and current.pid == os.getpid() and current.host == holder.host
                if current is not None and not mine and _alive(current, stale_after_s):
                    raise LeaseHeldError(
                        f"the {name} tables are being written by {current.describe()}; stop it first "
                        f"(or, if that process is gone, delete {lease_path(lake_uri, name)})"
                    )
                _write(lake_uri, name, holder, exclusive=False)  # stale holder: take over
                if (read_holder(lake_uri, name) or holder).token != holder.token:
                    raise LeaseHeldError(f"lost the race for the {name} lease; try again")
            taken.append(Lease(lake_uri, name, holder))
    except BaseException:
        for lease in taken:
            lease.release()
        raise
    return taken
