"""Avro object container files, parsed and written by hand so records can be regrouped without decoding.

Only the framing is handled here (header, metadata, sync markers, block codecs); record bytes stay
opaque. That lets the decoder concatenate the records of many payloads sharing a writer schema into one
container that DataFusion decodes into Arrow in a single call.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cramjam
import numpy as np

from siskin.errors import DecodeError

Buffer = bytes | memoryview
MAGIC = b"Obj\x01"
SYNC_SIZE = 16
# cramjam's message when zstd output would overrun the buffer it was given (pinned in the bomb tests)
_ZSTD_FULL = "failed to write whole buffer"


@dataclass(frozen=True, slots=True)
class Container:
    """A parsed container: writer schema bytes, codec, and its blocks still compressed."""

    schema: bytes
    codec: str
    blocks: tuple[tuple[int, Buffer], ...]

    @property
    def n_records(self) -> int:
        """Records in the container (sum of block counts), known without decoding."""
        return sum(count for count, _ in self.blocks)


def read_long(buf: Buffer, pos: int) -> tuple[int, int]:
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


def _blocks(data: bytes, pos: int, sync: bytes) -> Iterator[tuple[int, int, int]]:
    """(count, start, stop) of each block after the header, checking sizes and sync markers."""
    end = len(data)
    index = 0
    while pos < end:
        try:
            count, pos = read_long(data, pos)
            size, pos = read_long(data, pos)
        except IndexError as exc:
            raise DecodeError("truncated", f"container ends inside the header of block {index}") from exc
        except ValueError as exc:
            raise DecodeError("corrupt_avro", f"block {index} header is not a varint") from exc
        if count < 0 or size < 0:
            raise DecodeError("corrupt_avro", f"block {index} has a negative count or size")
        stop = pos + size
        if stop + SYNC_SIZE > end:
            raise DecodeError(
                "truncated", f"block {index} needs {size} bytes + sync but the payload ends at byte {end}"
            )
        if data[stop : stop + SYNC_SIZE] != sync:
            raise DecodeError("corrupt_avro", f"block {index} is not followed by the sync marker")
        yield count, pos, stop
        pos = stop + SYNC_SIZE
        index += 1


def parse_container(data: bytes) -> Container:
    """Split a container into header fields and (count, compressed bytes) blocks, checking each sync."""
    meta, sync, pos = parse_header(data)
    codec = meta.get("avro.codec", b"null").decode("ascii", "replace") or "null"
    view = memoryview(data)  # blocks are zero-copy views of the payload
    blocks = tuple((count, view[start:stop]) for count, start, stop in _blocks(data, pos, sync))
    return Container(meta["avro.schema"], codec, blocks)


def count_records(data: bytes) -> int:
    """Records declared by the readable blocks of a container, 0 if even its header is unreadable."""
    total = 0
    try:
        _, sync, pos = parse_header(data)
        for count, _, _ in _blocks(data, pos, sync):
            total += count
    except DecodeError:
        pass
    return total


def decompress(codec: str, block: Buffer, limit: int) -> Buffer:
    """Raw record bytes of one block; inflation stops after `limit` + 1 bytes, so a bomb costs no memory.

    A block that would inflate past `limit` is `DecodeError("oversized")` without having been inflated
    whole; a block that does not inflate is `corrupt_avro`.
    """
    try:
        if codec == "null":
            raw: Buffer = block
        elif codec == "deflate":
            raw = _inflate(block, limit)
        elif codec == "snappy":
            raw = _unsnappy(block, limit)
        elif codec == "zstandard":
            raw = _unzstd(block, limit)
        else:
            raise DecodeError("corrupt_avro", f"unsupported container codec {codec!r}")
    except DecodeError:
        raise
    except Exception as exc:  # codec libraries raise their own error types
        raise DecodeError("corrupt_avro", f"{codec} block does not decompress: {exc}") from exc
    if len(raw) > limit:
        raise DecodeError("oversized", f"{codec} block of {len(block)} bytes holds more than {limit} bytes")
    return raw


def _inflate(block: Buffer, limit: int) -> bytes:
    """Raw deflate, at most `limit` + 1 bytes of output (zlib's max_length)."""
    inflater = zlib.decompressobj(-15)
    raw = inflater.decompress(block, limit + 1)
    if len(raw) > limit:
        raise DecodeError("oversized", f"deflate block of {len(block)} bytes inflates past {limit} bytes")
    if not inflater.eof:
        raise DecodeError("corrupt_avro", "deflate block ends before its end-of-stream marker")
    return raw


def _unsnappy(block: Buffer, limit: int) -> bytes:
    """Raw snappy + CRC32; the declared length is checked before anything is inflated.

    The decompressor writes into a buffer of exactly the declared length and fails on more, so the
    header cannot understate the output.
    """
    size, _ = _read_uvarint(block)
    if size > limit:
        raise DecodeError("oversized", f"snappy block declares {size} bytes, over {limit}")
    if len(block) < 5:
        raise DecodeError("corrupt_avro", "snappy block is shorter than its CRC32")
    raw = bytes(cramjam.snappy.decompress_raw(block[:-4]))
    if zlib.crc32(raw) != struct.unpack(">I", block[-4:])[0]:
        raise DecodeError("corrupt_avro", "snappy block fails its CRC32 check")
    return raw


def _unzstd(block: Buffer, limit: int) -> bytes:
    """Zstandard frames decompressed into a buffer of `limit` + 1 bytes: the output can never outgrow it."""
    out = np.empty(limit + 1, np.uint8)  # not zero-filled: only the pages written are touched
    try:
        n = int(cramjam.zstd.decompress_into(block, out.data))
    except cramjam.DecompressionError as exc:
        if _ZSTD_FULL in str(exc):
            raise DecodeError(
                "oversized", f"zstandard block of {len(block)} bytes inflates past {limit} bytes"
            ) from exc
        raise
    if n > limit:
        raise DecodeError("oversized", f"zstandard block of {len(block)} bytes inflates past {limit} bytes")
    return out[:n].tobytes()


def _read_uvarint(buf: Buffer) -> tuple[int, int]:
    acc = shift = pos = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if b < 0x80:
            return acc, pos
        shift += 7
    raise ValueError("snappy block has no length header")


def container_bytes(schema_json: bytes, blocks: Iterable[tuple[int, Buffer]]) -> list[Buffer]:
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
    parts: list[Buffer] = [b"".join(header)]
    for count, data in blocks:
        parts.append(encode_long(count) + encode_long(len(data)))
        parts.append(data)
        parts.append(sync)
    return parts


def _string(value: bytes) -> bytes:
    return encode_long(len(value)) + value
