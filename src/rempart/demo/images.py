"""Harmless placeholder images standing in for a hash bank's entries in the demo."""

from __future__ import annotations

import hashlib
import struct
import zlib

_GLYPHS = ("010110010010111", "111001111100111", "111001011001111", "101101111001001")
_COLOURS = ((46, 134, 193), (39, 174, 96), (230, 126, 34), (142, 68, 173))


def _placeholder_png(index: int) -> bytes:
    """A 64x64 coloured square showing ``index + 1``, written by hand so the bytes (and so
    the hashes a demo bank is built from) do not change with the Pillow or zlib version."""
    size, scale = 64, 8
    left, top = (size - 3 * scale) // 2, (size - 5 * scale) // 2
    background, ink = bytes(_COLOURS[index]), b"\xff\xff\xff"
    raw = bytearray()
    for y in range(size):
        raw.append(0)  # PNG filter type "none"
        gy = (y - top) // scale
        for x in range(size):
            gx = (x - left) // scale
            lit = 0 <= gy < 5 and 0 <= gx < 3 and _GLYPHS[index][gy * 3 + gx] == "1"
            raw += ink if lit else background

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    # Level 0 (stored blocks) is the only deflate output every zlib build agrees on.
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 0))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


PLACEHOLDER_BANK_IMAGES: list[bytes] = [_placeholder_png(i) for i in range(len(_GLYPHS))]
BANK_HASHES = [
    (hashlib.sha256(img).hexdigest(), hashlib.md5(img, usedforsecurity=False).hexdigest())
    for img in PLACEHOLDER_BANK_IMAGES
]
