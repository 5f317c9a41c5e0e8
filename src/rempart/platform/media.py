"""Hashes of an image: exact (SHA-256, MD5) and perceptual (PDQ)."""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("rempart.media")

# Decompression bombs are refused rather than decoded: inline images come from outside.
MAX_IMAGE_PIXELS = 50_000_000
# Only the formats platforms post. Pillow otherwise also tries exotic decoders (and, for
# EPS, runs Ghostscript) on whatever bytes arrive.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


@dataclass(frozen=True)
class ImageDigests:
    sha256: str
    md5: str
    pdq: str | None
    pdq_quality: int | None


def pdq_of(image: Image.Image) -> tuple[str, int]:
    # numpy and pdqhash load here, on the first image, not when a web process starts.
    import numpy as np
    import pdqhash

    bits, quality = pdqhash.compute(np.asarray(image.convert("RGB")))
    # The bit order pdqhash returns is the reference implementation's hex order.
    value = int("".join("1" if b else "0" for b in bits), 2)
    return f"{value:064x}", int(quality)


def open_image(content: bytes) -> Image.Image | None:
    """The decoded image, or ``None`` when the bytes are not an image we accept."""
    # Pillow loads on the first image, not when a web process starts; the cap is set on
    # every call, so it holds whoever imported Pillow first.
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)
            image = Image.open(io.BytesIO(content), formats=IMAGE_FORMATS)
            image.load()
            return image
    except Exception as exc:
        # Decoders raise almost anything on hostile bytes (SyntaxError for a broken PNG
        # chunk, NotImplementedError, struct.error…): every one means "not an image we
        # can read", never a crashed job that keeps the bytes and is retried in vain.
        log.info("inline image not decodable: %s", type(exc).__name__)
        return None


def hash_image(content: bytes) -> ImageDigests:
    """Exact hashes always; PDQ only when the bytes decode as an image (else ``None``)."""
    sha256 = hashlib.sha256(content).hexdigest()
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    image = open_image(content)
    if image is None:
        return ImageDigests(sha256, md5, None, None)
    with image:
        try:
            pdq, quality = pdq_of(image)
        except Exception as exc:  # same reasoning as in open_image
            log.info("inline image not hashable: %s", type(exc).__name__)
            return ImageDigests(sha256, md5, None, None)
    return ImageDigests(sha256, md5, pdq, quality)
