"""The catalogue: every photo to decide on, one entry per sha256, near-duplicates together.

`load_catalogue` joins the scrape manifest's photos and the curated set's
(`landslide.curate.photos`); photos whose perceptual hashes differ by at most
`scrape.dup_distance` bits are grouped (`near_duplicate_groups`) and listed next to each
other. Hashes not in the manifest are computed once and cached (`perceptual_hashes`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from landslide.curate.photos import Photo, curated_photos, read_manifest
from landslide.curate.store import CurationPaths
from landslide.io import write_json

PHASH_CACHE = "phash.json"


@dataclass
class Catalogue:
    """The photos to decide on, near-duplicates next to each other."""

    photos: list[Photo]
    groups: dict[str, int] = field(default_factory=dict)  # sha256 -> group (2+ photos only)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_sha = {p.sha256: p for p in self.photos}
        self.group_sizes: dict[int, int] = {}
        for g in self.groups.values():
            self.group_sizes[g] = self.group_sizes.get(g, 0) + 1

    def get(self, sha256: str) -> Photo | None:
        return self.by_sha.get(sha256)

    def values(self, attribute: str) -> list[str]:
        """The distinct non-empty values of a text attribute (for the page's filters)."""
        return sorted({getattr(p, attribute) for p in self.photos} - {""}, key=str.casefold)


def load_catalogue(
    paths: CurationPaths, dup_distance: int, *, progress: Callable[[int], None] | None = None
) -> Catalogue:
    """The scrape manifest's photos and the curated set's, one entry per sha256.

    A photo in both keeps the manifest's description and the curated file. Photos with
    no perceptual hash get one (cached under `paths.cache_dir`).
    """
    warnings: list[str] = []
    photos: dict[str, Photo] = {}
    for photo in read_manifest(paths.manifest):
        if photo.sha256 in photos:
            continue
        if not photo.path.is_file():
            warnings.append(f"{paths.manifest}: {photo.name}: file not found, left out")
            continue
        photos[photo.sha256] = photo
    for photo in curated_photos(paths.images_dir, paths.provenance):
        known = photos.get(photo.sha256)
        if known is None:
            photos[photo.sha256] = photo
        else:
            photos[photo.sha256] = replace(
                known, path=photo.path, name=photo.name, origin="curated"
            )
    hashes = perceptual_hashes(list(photos.values()), paths.cache_dir, progress=progress)
    groups = near_duplicate_groups(hashes, dup_distance)
    base = {sha: i for i, sha in enumerate(photos)}
    first: dict[int, int] = {}
    for sha, g in groups.items():
        first[g] = min(first.get(g, base[sha]), base[sha])
    ordered = sorted(
        photos.values(),
        key=lambda p: (first.get(groups.get(p.sha256, -1), base[p.sha256]), base[p.sha256]),
    )
    return Catalogue(ordered, groups, warnings)


def perceptual_hashes(
    photos: Sequence[Photo],
    cache_dir: Path | None,
    *,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """64-bit pHash (imagehash.phash) of each photo: the manifest's, else computed and cached.

    An unreadable photo gets no hash (it joins no group).
    """
    cache_file = cache_dir / PHASH_CACHE if cache_dir is not None else None
    cache: dict[str, str] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            loaded = json.loads(cache_file.read_text(encoding="utf-8"))
            cache = {k: v for k, v in loaded.items() if isinstance(v, str)}
        except (OSError, ValueError, AttributeError):
            cache = {}
    out: dict[str, int] = {}
    added = False
    for photo in photos:
        value = _hex64(photo.phash) if photo.phash else None
        if value is None and photo.sha256 in cache:
            value = _hex64(cache[photo.sha256])
        if value is None:
            computed = _phash(photo.path)
            if computed is not None:
                cache[photo.sha256] = computed
                added = True
                value = _hex64(computed)
            if progress is not None:
                progress(1)
        if value is not None:
            out[photo.sha256] = value
    if added and cache_file is not None:
        write_json(cache_file, cache, indent=None)
    return out


def _hex64(text: str) -> int | None:
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return value if 0 <= value < 1 << 64 else None


def _phash(path: Path) -> str | None:
    """The pipeline's one pHash (`landslide.phash`, as scrape stores it), or None."""
    from PIL import Image

    from landslide.annotations.images import BadImage, open_image
    from landslide.phash import phash_hex

    try:
        with open_image(path, 50_000_000) as image:
            return phash_hex(image)
    except (BadImage, OSError, ValueError, Image.DecompressionBombError):
        return None


def near_duplicate_groups(hashes: Mapping[str, int], distance: int) -> dict[str, int]:
    """Photos whose hashes differ by <= `distance` bits, transitively: sha256 -> group id.

    Only photos with a near-duplicate get a group; ids count from 0 in input order.
    """
    import numpy as np

    keys = list(hashes)
    if len(keys) < 2:
        return {}
    values = np.array([hashes[k] for k in keys], dtype=np.uint64)
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(keys) - 1):
        near = np.nonzero(np.bitwise_count(values[i + 1 :] ^ values[i]) <= distance)[0]
        for j in near + i + 1:
            a, b = root(i), root(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[int, list[str]] = {}
    for i, key in enumerate(keys):
        members.setdefault(root(i), []).append(key)
    groups: dict[str, int] = {}
    for gid, keys_in in enumerate(m for m in members.values() if len(m) > 1):
        for key in keys_in:
            groups[key] = gid
    return groups
