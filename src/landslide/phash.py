"""The one perceptual hash of a photo, for every near-duplicate check in the pipeline.

    h = phash(Path("a.jpg"))    # or phash(pil_image)
    str(h)                      # 16 hex digits: what manifests and reports store
    h.hash.flatten()            # the 64 bits as a bool array
    int(str(h), 16)             # the 64 bits as an integer

scrape (`scrape.dedup.phash_of`), curate, validate and split all hash with this, so
a photo has one hash wherever it is compared. The photo is hashed as it is shown:
the EXIF orientation is applied (`ImageOps.exif_transpose`) first, so a copy stored
turned with an orientation tag that shows it upright is the same photo. Then the
first frame is made grey and box-reduced to about `PHASH_SIDE` px on its shorter
side before `imagehash.phash` (which looks at 32x32): the same hash as from the full
image up to a few bits, at a fraction of the cost of a Lanczos resize from full size.
For a photo without an orientation tag these are the values scrape has always
written, so existing manifests stay valid.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PIL import ExifTags, Image, ImageOps

if TYPE_CHECKING:
    import imagehash

__all__ = ["PHASH_SIDE", "phash", "phash_hex"]

PHASH_SIDE = 64  # images are box-reduced to about this before hashing


def phash(source: Image.Image | str | Path) -> imagehash.ImageHash:
    """The 64-bit pHash of a photo (a PIL image, or the path of one), upright.

    A path is opened with Pillow and its errors (`OSError`, `UnidentifiedImageError`,
    `Image.DecompressionBombError`) reach the caller; so do decoding errors of an image.
    """
    if isinstance(source, Image.Image):
        return _phash(source)
    with Image.open(source) as im:
        return _phash(im)


def phash_hex(source: Image.Image | str | Path) -> str:
    """`phash(source)` as 16 hex digits."""
    return str(phash(source))


def _phash(im: Image.Image) -> imagehash.ImageHash:
    import imagehash

    if _orientation(im) != 1:
        im = ImageOps.exif_transpose(im)
    try:
        g = im if im.mode == "L" else im.convert("L")
    except ValueError:  # modes with no direct conversion to grey
        g = im.convert("RGB").convert("L")
    factor = min(g.size) // PHASH_SIDE
    if factor >= 2:
        g = g.reduce(factor)
    return imagehash.phash(g)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1 when absent or unreadable: exif_transpose ignores it)."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a corrupt EXIF block
        return 1
    return value if isinstance(value, int) and 2 <= value <= 8 else 1
