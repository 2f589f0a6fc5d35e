"""63x63 FITS cutouts (gzip-compressed) assembled from a pre-compressed noise bank.

Compressing three 20 KB images per alert would cost most of the simulator's time budget, so stamps
are built from deflate chunks: the FITS header, the noise rows above and below the source, and the
padding are compressed once (with a full flush, which makes chunks independent and concatenable);
only the band of rows holding the source changes per alert, and it goes in a stored (uncompressed)
deflate block: about 600 bytes more per stamp than compressing it, for no CPU time. Templates come
whole from the bank (an object keeps the same template every night, as in ZTF). The result is one
ordinary gzip member.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

STAMP = 63
BLOCK = 2880
DATA_BYTES = STAMP * STAMP * 4
PAD_BYTES = -DATA_BYTES % BLOCK
FILE_BYTES = BLOCK + DATA_BYTES + PAD_BYTES  # 20160, as in ZTF
BAND = (24, 39)  # rows holding the source, rebuilt per alert
LEVELS = np.array([110.0, 170.0, 250.0, 380.0])  # sky background [DN]
VARIANTS = 12
FWHM_GRID = np.arange(0.5, 5.01, 0.25)  # PSF FWHM [pixels]
OFFSETS = np.array([-0.33, 0.0, 0.33])  # sub-pixel centring
TEMPLATE_MAGS = np.arange(13.0, 23.01, 0.5)
_GZIP_HEAD = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
_FINAL = b"\x03\x00"  # an empty final deflate block


def fits_header() -> bytes:
    """The 2880-byte primary header of a 63x63 float32 image."""
    cards = [
        ("SIMPLE", "T"),
        ("BITPIX", "-32"),
        ("NAXIS", "2"),
        ("NAXIS1", str(STAMP)),
        ("NAXIS2", str(STAMP)),
        ("BUNIT", "'DN      '"),
    ]
    text = "".join(
        (f"{key:<8}= {value:>20}" if not value.startswith("'") else f"{key:<8}= {value:<20}").ljust(80)
        for key, value in cards
    )
    return (text + "END".ljust(80)).ljust(BLOCK).encode("ascii")


def deflate_chunk(raw: bytes, level: int = 9) -> bytes:
    """Raw deflate of `raw` ending on a full flush: independent and byte-aligned, so concatenable."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(raw) + comp.flush(zlib.Z_FULL_FLUSH)


@dataclass(frozen=True)
class Piece:
    """A run of file bytes with its deflate chunk and its CRC-32 state contribution."""

    raw: bytes
    deflated: bytes


@dataclass(frozen=True)
class Bank:
    """Everything pre-generated: noise rows, PSFs, whole templates."""

    header: Piece
    pad: Piece
    top: dict[tuple[str, int, int], Piece]  # (sci|diff, level, variant)
    bottom: dict[tuple[str, int, int], Piece]
    centre: dict[tuple[str, int, int], F32]  # native float32 band noise
    psf: F32  # [fwhm, dy, dx, band rows, 63], unit sum
    templates: dict[tuple[int, int, int], bytes]  # (level, magbin, variant) -> gzip bytes


def _noise_sigma(level: float, kind: str) -> float:
    """Pixel noise: sky shot noise of one exposure, less in the co-added template, more in differences."""
    sci = 0.5 * np.sqrt(level) + 2.0
    return {"sci": sci, "ref": sci / 3.0, "diff": sci * 1.05}[kind]


def _be(rows: np.ndarray) -> bytes:
    return rows.astype(">f4").tobytes()


def _psf_grid() -> F32:
    """Unit-sum Gaussian PSFs on the source band for every FWHM and sub-pixel offset."""
    y = np.arange(BAND[0], BAND[1], dtype=np.float64)[:, None] - STAMP // 2
    x = np.arange(STAMP, dtype=np.float64)[None, :] - STAMP // 2
    out = np.empty((len(FWHM_GRID), len(OFFSETS), len(OFFSETS), BAND[1] - BAND[0], STAMP), np.float32)
    for i, fwhm in enumerate(FWHM_GRID):
        s2 = 2.0 * (fwhm / 2.3548) ** 2
        for j, dy in enumerate(OFFSETS):
            for k, dx in enumerate(OFFSETS):
                img = np.exp(-((x - dx) ** 2 + (y - dy) ** 2) / s2)
                out[i, j, k] = img / (np.pi * s2)
    return out


@lru_cache(maxsize=1)
def bank() -> Bank:
    """Build the bank once per process (about 0.2 s); its content is fixed, hence deterministic."""
    rng = np.random.default_rng(20231018)
    psf = _psf_grid()
    header = fits_header()
    pad = b"\x00" * PAD_BYTES
    top: dict[tuple[str, int, int], Piece] = {}
    bottom: dict[tuple[str, int, int], Piece] = {}
    centre: dict[tuple[str, int, int], F32] = {}
    templates: dict[tuple[int, int, int], bytes] = {}
    for li, level in enumerate(LEVELS):
        for kind in ("sci", "diff"):
            base = level if kind == "sci" else 0.0
            for v in range(VARIANTS):
                img = base + rng.normal(0.0, _noise_sigma(level, kind), (STAMP, STAMP))
                top[kind, li, v] = Piece(_be(img[: BAND[0]]), deflate_chunk(_be(img[: BAND[0]])))
                bottom[kind, li, v] = Piece(_be(img[BAND[1] :]), deflate_chunk(_be(img[BAND[1] :])))
                centre[kind, li, v] = img[BAND[0] : BAND[1]].astype(np.float32)
        for mi, mag in enumerate(TEMPLATE_MAGS):
            for v in range(VARIANTS // 3):
                img = level + rng.normal(0.0, _noise_sigma(level, "ref"), (STAMP, STAMP))
                img[BAND[0] : BAND[1]] += 10.0 ** (-0.4 * (mag - 26.2)) * psf[6 + v, 1, 1]
                templates[li, mi, v] = gzip_bytes(header + _be(img) + pad)
    return Bank(
        header=Piece(header, deflate_chunk(header)),
        pad=Piece(pad, deflate_chunk(pad)),
        top=top,
        bottom=bottom,
        centre=centre,
        psf=psf,
        templates=templates,
    )


def gzip_bytes(raw: bytes) -> bytes:
    """A deterministic gzip member (no file name, mtime 0); only used while building the bank."""
    return _GZIP_HEAD + deflate_chunk(raw) + _FINAL + struct.pack("<II", zlib.crc32(raw), len(raw))


def stored_block(raw: bytes) -> bytes:
    """A non-final stored deflate block (at most 65535 bytes), byte-aligned like a flushed chunk."""
    return b"\x00" + struct.pack("<HH", len(raw), 0xFFFF ^ len(raw)) + raw


def _assemble(b: Bank, kind: str, level: int, variant: int, band: np.ndarray) -> bytes:
    """Header + noise above + the source band (stored) + noise below + padding, as one gzip member."""
    top, bottom = b.top[kind, level, variant], b.bottom[kind, level, variant]
    mid = _be(band)
    crc = zlib.crc32(b.header.raw)
    for part in (top.raw, mid, bottom.raw, b.pad.raw):
        crc = zlib.crc32(part, crc)
    body = b"".join(
        (
            _GZIP_HEAD,
            b.header.deflated,
            top.deflated,
            stored_block(mid),
            bottom.deflated,
            b.pad.deflated,
            _FINAL,
            struct.pack("<II", crc, FILE_BYTES),
        )
    )
    return body


def _psf(b: Bank, fwhm: float, sub: int) -> F32:
    i = int(np.clip(np.rint((fwhm - FWHM_GRID[0]) / 0.25), 0, len(FWHM_GRID) - 1))
    return b.psf[i, sub // 3, sub % 3]


def stamps(
    *,
    variant: int,
    level: int,
    fwhm: float,
    sub: int,
    sci_dn: float,
    diff_dn: float,
    ref_mag: float,
    template_variant: int,
) -> tuple[bytes, bytes, bytes]:
    """Science, template and difference cutouts (gzip FITS bytes) of one alert.

    `sci_dn` is the source's total flux in the science image and `diff_dn` the (absolute) difference
    flux, both in DN; `ref_mag` picks the template holding the reference source (inf: none) and
    `template_variant` its noise and sky level (constant per object, so is its template).
    """
    b = bank()
    psf = _psf(b, fwhm, sub)
    sci = b.centre["sci", level, variant] + np.float32(max(sci_dn, 0.0)) * psf
    diff = b.centre["diff", level, variant] + np.float32(diff_dn) * psf
    mag_bin = (
        len(TEMPLATE_MAGS) - 1
        if not np.isfinite(ref_mag)
        else int(np.clip(np.rint((ref_mag - TEMPLATE_MAGS[0]) / 0.5), 0, len(TEMPLATE_MAGS) - 1))
    )
    per_level = VARIANTS // 3
    template = b.templates[template_variant // per_level % len(LEVELS), mag_bin, template_variant % per_level]
    return _assemble(b, "sci", level, variant, sci), template, _assemble(b, "diff", level, variant, diff)
