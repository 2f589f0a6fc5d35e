"""Real compression bombs and codec containers built by hand, for the decoder and the pipeline tests.

Each bomb is a genuine stream of its codec (any zlib, zstd or snappy decoder inflates it to the stated
size); the containers carry the bundled ZTF 4.02 writer schema, so the decoder gets as far as inflating.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cramjam

from siskin.alerts.avro_container import MAGIC, encode_long, parse_container

SCHEMA_402 = (Path(__file__).resolve().parents[1] / "siskin/alerts/schemas/ztf/4.02/alert.avsc").read_bytes()
ZSTD_RLE_BLOCK = 128 * 1024  # the largest block zstd allows


def _string(value: bytes) -> bytes:
    return encode_long(len(value)) + value


def container(codec: str, blocks: list[tuple[int, bytes]], schema: bytes = SCHEMA_402) -> bytes:
    """An Avro object container of already-compressed `(record count, block)` pairs."""
    sync = os.urandom(16)
    meta = encode_long(2) + _string(b"avro.schema") + _string(schema) + _string(b"avro.codec")
    out = [MAGIC, meta + _string(codec.encode()) + encode_long(0), sync]
    for count, block in blocks:
        out += [encode_long(count), encode_long(len(block)), block, sync]
    return b"".join(out)


def compress(codec: str, raw: bytes) -> bytes:
    """One Avro block of `raw` in `codec`'s framing (snappy: raw snappy + big-endian CRC32)."""
    if codec == "deflate":
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        return deflater.compress(raw) + deflater.flush()
    if codec == "zstandard":
        return bytes(cramjam.zstd.compress(raw))
    if codec == "snappy":
        return bytes(cramjam.snappy.compress_raw(raw)) + struct.pack(">I", zlib.crc32(raw))
    raise ValueError(codec)


def recoded(payload: bytes, codec: str) -> bytes:
    """A null-codec container rewritten with `codec`, block by block (fastavro here lacks zstandard)."""
    parsed = parse_container(payload)
    return container(codec, [(n, compress(codec, bytes(b))) for n, b in parsed.blocks], parsed.schema)


def zstd_rle_bomb(inflated: int) -> bytes:
    """A zstd frame of RLE blocks: 4 bytes per 128 KiB of output, no content size declared."""
    blocks = -(-inflated // ZSTD_RLE_BLOCK)
    header = b"\x28\xb5\x2f\xfd" + bytes([0x00, 7 << 3])  # no content size; window 2^17
    body = bytearray()
    for i in range(blocks):
        last = 1 if i == blocks - 1 else 0
        body += (last | (1 << 1) | (ZSTD_RLE_BLOCK << 3)).to_bytes(3, "little") + b"\x00"
    return header + bytes(body)


def deflate_bomb(inflated: int) -> bytes:
    """Raw deflate of `inflated` zero bytes (about 1,000:1), built from one repeated 1 MiB segment."""
    segment = 1024 * 1024
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = deflater.compress(b"\0" * segment) + deflater.flush(zlib.Z_FULL_FLUSH)
    return chunk * max(1, -(-inflated // segment)) + b"\x03\x00"  # an empty final block ends the stream


def snappy_bomb(inflated: int) -> bytes:
    """A real snappy block of zeros (about 21:1) with its CRC32."""
    return compress("snappy", b"\0" * inflated)


def bomb(codec: str, inflated: int, records: int = 1) -> bytes:
    """A one-block alert container whose block inflates to at least `inflated` bytes."""
    data = {
        "deflate": deflate_bomb,
        "zstandard": zstd_rle_bomb,
        "snappy": snappy_bomb,
    }[codec](inflated)
    return container(codec, [(records, data)])
