"""Images named by annotation files: safe names, lookup in the images directory, upright size.

- `safe_name` normalises a name as an annotation file writes it (`./images/a.jpg`,
  `sub\\b.png`, a URL) and refuses absolute paths and `..`: nothing outside the images
  directory is ever opened.
- `ImageDir` finds a name in the images directory even with a folder prefix, URL
  escapes, stray spaces or another letter case (`A.JPG` for `a.jpg`).
- `upright_size` reads only the header and EXIF of a file (no pixels are decoded),
  refuses images larger than the pixel limit, and returns the size after
  `ImageOps.exif_transpose`, as VIA showed the photo to the annotator.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from PIL import Image, UnidentifiedImageError

from landslide.errors import AnnotationError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"})
ORIENTATION = 0x0112
_TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DRIVE = re.compile(r"^[a-zA-Z]:")


class UnsafeName(ValueError):
    """A file name that would leave the images directory."""


class BadImage(ValueError):
    """A file that is not an image, or one too large to open safely."""


def safe_name(raw: str) -> tuple[str, str | None]:
    """(relative posix name, note) for a file name as an annotation file writes it.

    A URL becomes its last path component, with a note: the photo is looked up by
    that name in the images directory.
    """
    name = raw.strip()
    note = None
    if _URL.match(name):
        name = unquote(PurePosixPath(urlsplit(name).path).name)
        note = f"remote file: read as {name!r} (download it into the images directory)"
    if not name or "\0" in name:
        raise UnsafeName(f"file name {raw!r} is empty or invalid")
    name = name.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeName(
            f"absolute path {raw!r} refused: names must be relative to the images directory"
        )
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeName(f"path {raw!r} refused: '..' would leave the images directory")
    if not parts:
        raise UnsafeName(f"file name {raw!r} is empty or invalid")
    return "/".join(parts), note


class ImageDir:
    """The files under an images directory, indexed by relative name (built once)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._exact: dict[str, str] = {}
        self._folded: dict[str, list[str]] = {}
        self._outside: set[str] = set()
        real_root = self.root.resolve()
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fname in filenames:
                if fname.startswith("."):
                    continue
                path = Path(dirpath, fname)
                rel = path.relative_to(self.root).as_posix()
                if not path.resolve().is_relative_to(real_root):
                    self._outside.add(rel)
                    continue
                self._exact[rel] = rel
                self._folded.setdefault(rel.casefold(), []).append(rel)

    def find(self, name: str) -> str | None:
        """The relative name of the file `name` refers to, or None if there is none."""
        for variant in dict.fromkeys((name, name.strip(), unquote(name))):
            parts = variant.split("/")
            for k in range(len(parts)):
                candidate = "/".join(parts[k:])
                if candidate in self._outside:
                    raise UnsafeName(f"{candidate!r} links outside the images directory: refused")
                if candidate in self._exact:
                    return candidate
                folded = self._folded.get(candidate.casefold(), [])
                if len(folded) == 1:
                    return folded[0]
        return None

    def path(self, rel: str) -> Path:
        return self.root / rel

    def images(self) -> list[str]:
        """Relative names of the image files (by suffix), sorted."""
        return sorted(n for n in self._exact if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES)


def open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open an image lazily (header only), refusing non-images and decompression bombs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise BadImage(f"image refused as a decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise BadImage("not an image (Pillow cannot identify its format)") from None
        except Exception as exc:  # Pillow's parsers raise many kinds on corrupt headers
            raise BadImage(f"unreadable image: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise BadImage(
            f"{width}x{height} = {width * height:,} pixels exceeds "
            f"annotations.max_image_pixels ({max_pixels:,}): refused as a decompression bomb"
        )
    if width < 1 or height < 1:
        image.close()
        raise BadImage(f"image has no pixels ({width}x{height})")
    return image


def upright_size(path: Path, max_pixels: int) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied), from the header only."""
    with open_image(path, max_pixels) as image:
        width, height = image.size
        turned = _orientation(image) in _TRANSPOSED
    return (height, width) if turned else (width, height)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag, read without decoding pixels (1 when absent or bad)."""
    try:
        if image.format == "PNG":  # PngImageFile.getexif() would decode the image
            exif = Image.Exif()
            raw = image.info.get("exif")
            if raw:
                exif.load(raw)
        else:
            exif = image.getexif()
        value = exif.get(ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block: Pillow's exif_transpose would ignore it too
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def image_path(
    images_dir: Path,
    file_name: str,
    json_path: Path,
    hint: str = "pass the images directory the JSON was written for",
) -> Path:
    """`images_dir / file_name`, or an AnnotationError naming the JSON that lists it."""
    path = images_dir / file_name
    if not path.is_file():
        raise AnnotationError(
            f"image {file_name!r} not found in {images_dir}", file=json_path, hint=hint
        )
    return path
