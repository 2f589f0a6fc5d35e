"""Avro object container files, parsed and written by hand so records can be regrouped without decoding.

Only the framing is handled here (header, metadata, sync markers, block codecs); record bytes stay
opaque. That lets the decoder concatenate the records of many payloads sharing a writer schema into one
container that DataFusion decodes into Arrow in a single call.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import cramjam

from siskin.errors import DecodeError

MAGIC = b"Obj\x01"
SYNC_SIZE = 16


@dataclass(frozen=True, slots=True)
class Container:
    """A parsed container: writer schema bytes, codec, and its blocks still compressed."""

    schema: bytes
    codec: str
    blocks: tuple[tuple[int, bytes], ...]

    @property
    def n_records(self) -> int:
        """Records in the container (sum of block counts), known without decoding."""
        return sum(count for count, _ in self.blocks)


def read_long(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode one zigzag varint at `pos`; raises IndexError past the end, ValueError if too long."""
    shift = 0
    acc = 0
    while True:
        b = buf[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def encode_long(value: int) -> bytes:
    """Zigzag varint encoding of a 64-bit long."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = read_long(buf, pos)
    end = pos + size
    if size < 0 or end > len(buf):
        raise IndexError("length runs past the end")
    return buf[pos:end], end


def _read_metadata(data: bytes, pos: int) -> tuple[dict[str, bytes], int]:
    meta: dict[str, bytes] = {}
    while True:
        count, pos = read_long(data, pos)
        if count == 0:
            return meta, pos
        if count < 0:
            count = -count
            _, pos = read_long(data, pos)
        for _ in range(count):
            key, pos = _read_bytes(data, pos)
            value, pos = _read_bytes(data, pos)
            meta[key.decode("utf-8")] = value


def parse_header(data: bytes) -> tuple[dict[str, bytes], bytes, int]:
    """Metadata map, sync marker and the offset of the first block."""
    if not data.startswith(MAGIC):
        raise DecodeError("not_avro", "payload does not start with the Avro container magic 'Obj\\x01'")
    try:
        meta, pos = _read_metadata(data, len(MAGIC))
    except (IndexError, ValueError) as exc:
        raise DecodeError("truncated", f"container header ends early ({len(data)} bytes): {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DecodeError("corrupt_avro", f"container metadata key is not UTF-8: {exc}") from exc
    sync = data[pos : pos + SYNC_SIZE]
    if len(sync) < SYNC_SIZE:
        raise DecodeError("truncated", f"container header ends inside the sync marker ({len(data)} bytes)")
    if "avro.schema" not in meta:
        raise DecodeError("corrupt_avro", "container header has no 'avro.schema' metadata")
    return meta, sync, pos + SYNC_SIZE


def parse_container(data: bytes) -> Container:
    """Split a container into header fields and (count, compressed bytes) blocks, checking each sync."""
    meta, sync, pos = parse_header(data)
    codec = meta.get("avro.codec", b"null").decode("ascii", "replace") or "null"
    blocks: list[tuple[int, bytes]] = []
    end = len(data)
    while pos < end:
        try:
            count, pos = read_long(data, pos)
            size, pos = read_long(data, pos)
        except IndexError as exc:
            raise DecodeError("truncated", f"container ends inside block {len(blocks)} header") from exc
        except ValueError as exc:
            raise DecodeError("corrupt_avro", f"block {len(blocks)} header is not a varint") from exc
        if count < 0 or size < 0:
            raise DecodeError("corrupt_avro", f"block {len(blocks)} has a negative count or size")
        stop = pos + size
        if stop + SYNC_SIZE > end:
            raise DecodeError(
                "truncated", f"block {len(blocks)} needs {size} bytes + sync but the payload ends at {end}"
            )
        if data[stop : stop + SYNC_SIZE] != sync:
            raise DecodeError("corrupt_avro", f"block {len(blocks)} is not followed by the sync marker")
        blocks.append((count, data[pos:stop]))
        pos = stop + SYNC_SIZE
    return Container(meta["avro.schema"], codec, tuple(blocks))


def decompress(codec: str, block: bytes) -> bytes:
    """Raw record bytes of one block for the container codecs ZTF and Spark use."""
    try:
        if codec == "null":
            return block
        if codec == "deflate":
            return zlib.decompress(block, -15)
        if codec == "snappy":
            raw = bytes(cramjam.snappy.decompress_raw(block[:-4]))
            if zlib.crc32(raw) != struct.unpack(">I", block[-4:])[0]:
                raise DecodeError("corrupt_avro", "snappy block fails its CRC32 check")
            return raw
        if codec == "zstandard":
            return bytes(cramjam.zstd.decompress(block))
    except DecodeError:
        raise
    except Exception as exc:  # codec libraries raise their own error types
        raise DecodeError("corrupt_avro", f"{codec} block does not decompress: {exc}") from exc
    raise DecodeError("corrupt_avro", f"unsupported container codec {codec!r}")


def container_bytes(schema_json: bytes, blocks: Iterable[tuple[int, bytes]]) -> list[bytes]:
    """A null-codec container as a list of byte chunks (header, then count/size/data/sync per block)."""
    sync = os.urandom(SYNC_SIZE)
    header = [
        MAGIC,
        encode_long(2),
        _string(b"avro.schema"),
        _string(schema_json),
        _string(b"avro.codec"),
        _string(b"null"),
        encode_long(0),
        sync,
    ]
    parts = [b"".join(header)]
    for count, data in blocks:
        parts.append(encode_long(count) + encode_long(len(data)))
        parts.append(data)
        parts.append(sync)
    return parts


def _string(value: bytes) -> bytes:
    return encode_long(len(value)) + value
