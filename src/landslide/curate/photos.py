"""The photos a person decides on: the scrape manifest's and the curated set's.

- `read_manifest`: the scraped photos of the scrape manifest (`scrape.out_dir`/
  `manifest.csv`), each file kept inside the manifest's folder;
- `curated_photos`: the photos already in the curated set (`data/raw/images/`),
  described by `data/raw/provenance.csv` (`read_table`);
- `thumbnail`: a small upright JPEG of a photo, cached by sha256.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landslide.curate.store import MAX_TEXT, SHA256, clean_text
from landslide.errors import CurationError
from landslide.io import sha256_file, write_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
MANIFEST_FIELDS = (
    *("sha256", "phash", "source", "query", "image_url", "page_url", "title"),
    *("licence", "licence_url", "author", "attribution", "fetched_at", "width", "height", "file"),
)


@dataclass(frozen=True)
class Photo:
    """One photo a person can decide on, with where it came from."""

    sha256: str
    path: Path  # the file to serve or copy
    name: str  # relative to its folder (the manifest's, or the images folder)
    origin: str  # "incoming" (scrape manifest, not in the curated set) or "curated"
    source: str = ""
    query: str = ""
    title: str = ""
    licence: str = ""
    licence_url: str = ""
    author: str = ""
    attribution: str = ""
    page_url: str = ""
    image_url: str = ""
    fetched_at: str = ""
    width: int | None = None
    height: int | None = None
    phash: str = ""


def read_manifest(path: Path) -> list[Photo]:
    """The scrape manifest's photos (a missing manifest: none).

    File names must stay inside the manifest's folder; a bad sha256 or name is an error
    naming the line. Photos whose file is missing are listed too (see `Photo.path`).
    """
    if not path.exists():
        return []
    from landslide.annotations.images import UnsafeName, safe_name

    folder = path.parent
    real = folder.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CurationError(f"cannot read: {exc}", file=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("sha256", "file") if c not in (reader.fieldnames or [])]
    if missing:
        raise CurationError(
            f"missing columns: {', '.join(missing)} (expected {','.join(MANIFEST_FIELDS)})",
            file=path,
        )
    photos: list[Photo] = []
    for line, row in enumerate(reader, start=2):
        get = _getter(row)
        sha = get("sha256").lower()
        if not SHA256.match(sha):
            raise CurationError(
                f"sha256 {sha[:80]!r} is not 64 hex digits", file=path, where=f"line {line}"
            )
        try:
            name, note = safe_name(get("file"))
        except UnsafeName as exc:
            raise CurationError(str(exc), file=path, where=f"line {line}") from None
        file = folder / name
        if note is not None or not file.resolve().is_relative_to(real):
            raise CurationError(
                f"file {get('file')!r} is not inside the manifest's folder",
                file=path,
                where=f"line {line}",
            )
        photos.append(
            _photo(
                get,
                sha256=sha,
                path=file,
                name=name,
                origin="incoming",
                source=get("source") or "scrape",
            )
        )
    return photos


_DESCRIPTION = ("query", "title", "licence", "licence_url", "author", "attribution")
_DESCRIPTION += ("page_url", "image_url", "fetched_at")


def _photo(get: Callable[[str], str], **given: Any) -> Photo:
    """A photo described by a manifest or provenance row (`get`, see `_getter`): its
    text columns, width, height and phash; `given` (sha256, path, ...) override them."""
    described: dict[str, Any] = {key: get(key) for key in _DESCRIPTION}
    described |= {"width": _int(get("width")), "height": _int(get("height"))}
    described["phash"] = get("phash").lower()
    return Photo(**(described | given))


def _getter(row: Mapping[str, str | None]) -> Callable[[str], str]:
    return lambda key: clean_text(str(row.get(key) or ""), MAX_TEXT)


def _int(value: str) -> int | None:
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def image_files(images_dir: Path) -> list[Path]:
    """The photos of a folder (by suffix, hidden files left out), sorted."""
    if not images_dir.is_dir():
        return []
    return sorted(
        p
        for p in images_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(images_dir).parts)
    )


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV file's header and rows (a missing file: empty)."""
    if not path.exists():
        return [], []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CurationError(f"cannot read: {exc}", file=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    return list(reader.fieldnames or []), rows


def curated_photos(images_dir: Path, provenance: Path) -> list[Photo]:
    """The photos already in the curated set, described by the provenance table."""
    _, rows = read_table(provenance)
    by_sha = {r.get("sha256", ""): r for r in rows if r.get("sha256")}
    by_name = {r.get("file", ""): r for r in rows if r.get("file")}
    photos = []
    for path in image_files(images_dir):
        name = path.relative_to(images_dir).as_posix()
        sha = sha256_file(path)
        get = _getter(by_sha.get(sha) or by_name.get(name) or {})
        photos.append(
            _photo(
                get,
                sha256=sha,
                path=path,
                name=name,
                origin="curated",
                source=get("source") or "local",
                title=get("title") or name,
                image_url=get("url") or get("image_url"),
            )
        )
    return photos


def thumbnail(photo: Photo, size: int, cache_dir: Path, max_pixels: int = 50_000_000) -> Path:
    """A JPEG no larger than size x size (upright), made once and cached by sha256."""
    out = cache_dir / "thumbs" / f"{photo.sha256}-{size}.jpg"
    if out.is_file():
        return out
    from PIL import Image, ImageOps

    from landslide.annotations.images import BadImage, open_image

    try:
        with open_image(photo.path, max_pixels) as image:
            image.draft("RGB", (size, size))
            upright = ImageOps.exif_transpose(image) or image
            if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
                rgba = upright.convert("RGBA")  # transparent web images: on white
                upright = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            small = upright.convert("RGB")
            small.thumbnail((size, size), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            small.save(buf, format="JPEG", quality=85)
    except (BadImage, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CurationError(f"cannot make a thumbnail: {exc}", file=photo.path) from None
    write_bytes(out, buf.getvalue())
    return out
