"""The photos to split and their near-duplicate groups: each photo's content digest and
perceptual hash (of the photo upright), union-find over close hashes, and a salted
hash per group that orders the assignment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landslide.annotations import ImageAnn
from landslide.errors import SplitError
from landslide.io import sha256_file
from landslide.phash import phash_hex
from landslide.prepare import RUN_PREPARE

SOURCE_DIGEST = "source_sha256"  # image attribute prepare records; else the file is hashed


@dataclass(frozen=True)
class Photo:
    index: int  # position in the annotations
    image: ImageAnn
    digest: str  # sha256 of the photo's content
    phash: int  # 64-bit perceptual hash


@dataclass
class Group:
    """Near-duplicate photos that must share a split."""

    photos: list[Photo]
    key: float  # salted hash in [0, 1): the group's place in the assignment order

    @property
    def stratum(self) -> str:
        return "landslide" if any(p.image.has_landslide for p in self.photos) else "non_landslide"

    def __len__(self) -> int:
        return len(self.photos)


def read_photo(
    index: int, image: ImageAnn, images_dir: Path, progress: Callable[[int], None] | None
) -> Photo:
    from PIL import Image, UnidentifiedImageError

    path = images_dir / image.file_name
    try:
        with Image.open(path) as im:
            phash = int(phash_hex(im), 16)  # upright: a turned copy is the same photo
    except FileNotFoundError:
        raise SplitError(f"image not found: {RUN_PREPARE}", file=path) from None
    except (OSError, UnidentifiedImageError) as exc:
        raise SplitError(f"cannot read image: {exc}", file=path) from None
    digest = dict(image.attributes).get(SOURCE_DIGEST) or sha256_file(path)
    if progress:
        progress(1)
    return Photo(index, image, digest, phash)


def _salted(seed: int, digest: str) -> float:
    h = hashlib.sha256(f"{seed}:{digest}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def group_photos(photos: list[Photo], max_distance: int, seed: int) -> list[Group]:
    """Union-find over pairs within `max_distance` bits (and identical content)."""
    n = len(photos)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    hashes = np.array([p.phash for p in photos], dtype=np.uint64)
    for i in range(n - 1):
        xor = np.bitwise_xor(hashes[i + 1 :], hashes[i])
        distance = np.bitwise_count(xor)
        for j in np.flatnonzero(distance <= max_distance) + i + 1:
            parent[find(int(j))] = find(i)
    by_digest: dict[str, int] = {}
    for i, photo in enumerate(photos):  # exact copies are one photo, whatever the phash says
        if photo.digest in by_digest:
            parent[find(i)] = find(by_digest[photo.digest])
        by_digest.setdefault(photo.digest, i)

    members: dict[int, list[Photo]] = {}
    for i, photo in enumerate(photos):
        members.setdefault(find(i), []).append(photo)
    groups = [Group(ps, min(_salted(seed, p.digest) for p in ps)) for ps in members.values()]
    return sorted(groups, key=lambda g: g.key)


def stratum_of(photo: Photo) -> str:
    return "landslide" if photo.image.has_landslide else "non_landslide"
