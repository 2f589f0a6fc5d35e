"""Where simulated alerts go: a watched directory, a ZTF public-archive tarball, or a rate for Kafka.

Directory writes are atomic (temporary dot-file, then rename) so a watcher never reads a partial
alert; tarballs are reproducible (fixed member times and owners, gzip mtime 0).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from siskin.errors import ConfigurationError
from siskin.simulate.schedule import night_date

Payload = bytes | tuple[int, bytes]
_UNIX_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(s|sec|second|min|minute|h|hr|hour))?\s*$", re.I)
_PER_SECOND = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
}


def parse_rate(text: str) -> float:
    """Alerts per second from '250/s', '250' (per second) or '15000/min' (also '/h')."""
    match = _RATE.match(str(text))
    if not match:
        raise ConfigurationError(f"cannot read rate {text!r}: write e.g. '250/s', '250' or '15000/min'")
    value = float(match.group(1)) / _PER_SECOND[(match.group(2) or "s").lower()]
    if value <= 0:
        raise ConfigurationError(f"rate {text!r} must be positive")
    return value


def _read_long(buf: bytes, pos: int) -> tuple[int, int]:
    shift = acc = 0
    while True:
        byte = buf[pos]
        pos += 1
        acc |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7


def candid_of(payload: bytes) -> int:
    """The candid of a single-alert container, read from its first record without decoding it all."""
    if payload[:4] != b"Obj\x01":
        raise ConfigurationError("payload is not an Avro object container file")
    pos = 4
    while True:  # metadata map blocks
        count, pos = _read_long(payload, pos)
        if count == 0:
            break
        if count < 0:
            _, pos = _read_long(payload, pos)
            count = -count
        for _ in range(2 * count):
            size, pos = _read_long(payload, pos)
            pos += size
    pos += 16  # sync marker
    _, pos = _read_long(payload, pos)  # records in block
    _, pos = _read_long(payload, pos)  # block size
    for _ in range(3):  # schemavsn, publisher, objectId
        size, pos = _read_long(payload, pos)
        pos += size
    return _read_long(payload, pos)[0]


def _with_candids(payloads: Iterable[Payload]) -> Iterator[tuple[int, bytes]]:
    for item in payloads:
        if isinstance(item, tuple):
            yield item
        else:
            yield candid_of(item), item


def write_to_dir(payloads: Iterable[Payload], out_dir: Path, *, night: int) -> int:
    """Write each alert as `<out_dir>/<candid>.avro`, atomically; returns how many were written.

    Items are (candid, bytes) from `simulate_night_records` or bare payloads (candid read from them).
    """
    night_date(night)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for candid, payload in _with_candids(payloads):
        tmp = out / f".{candid}.avro.tmp"
        tmp.write_bytes(payload)
        os.replace(tmp, out / f"{candid}.avro")
        count += 1
    return count


def tarball_path(path: Path, night: int) -> Path:
    """`path` itself, or `path/ztf_public_YYYYMMDD.tar.gz` when `path` is a directory."""
    path = Path(path)
    return path / f"ztf_public_{night}.tar.gz" if path.is_dir() else path


def write_tarball(payloads: Iterable[Payload], path: Path, *, night: int) -> int:
    """Write one night as a ZTF public archive tarball of `<candid>.avro` members; returns the count."""
    mtime = _night_epoch(night)
    target = tarball_path(path, night)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    count = 0
    with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", 1, raw, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for candid, payload in _with_candids(payloads):
                info = tarfile.TarInfo(f"{candid}.avro")
                info.size, info.mtime, info.mode = len(payload), mtime, 0o644
                tar.addfile(info, io.BytesIO(payload))
                count += 1
    os.replace(tmp, target)
    return count


def _night_epoch(night: int) -> int:
    """Unix time of the night's date at 13:00 UTC (member mtime: just after the night's last alert)."""
    return (night_date(night).toordinal() - _UNIX_EPOCH_ORDINAL) * 86400 + 13 * 3600
