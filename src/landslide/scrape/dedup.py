"""Exact and near-duplicate detection against everything already collected.

Exact: the sha256 of the downloaded bytes. Near: the 64-bit perceptual hash
(`imagehash.phash`) within `scrape.dup_distance` bits (Hamming distance), so a
re-encoded, resized or slightly recoloured copy of a photo counts as the same photo.
The index is filled from the manifest first, so a re-run only adds new photos.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image


def phash_of(im: Image.Image) -> str:
    """The perceptual hash as 16 hex digits (first frame, any mode, EXIF orientation applied).

    The pipeline's one pHash (`landslide.phash`), so curate, validate and split compare
    the same values; for photos without an orientation tag it is the hash scrape has
    always stored.
    """
    from landslide.phash import phash_hex

    return phash_hex(im)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(frozen=True)
class Match:
    kind: str  # "exact" or "near"
    file: str  # the photo already collected
    distance: int = 0


class DedupIndex:
    """sha256 and phash of the photos kept so far; `claim` is atomic across threads."""

    def __init__(self, max_distance: int) -> None:
        self.max_distance = max_distance
        self._by_sha: dict[str, str] = {}
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._files: list[str] = []  # the file of each hash
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_sha)

    def add(self, sha256: str, phash: str, file: str) -> None:
        with self._lock:
            self._add(sha256, phash, file)

    def claim(self, sha256: str, phash: str, file: str) -> Match | None:
        """The photo this one duplicates, or None after recording it as kept."""
        with self._lock:
            match = self._match(sha256, phash)
            if match is None:
                self._add(sha256, phash, file)
            return match

    def _add(self, sha256: str, phash: str, file: str) -> None:
        self._by_sha.setdefault(sha256, file)
        if not phash:  # a manifest row without one (edited by hand): exact matches only
            return
        n = len(self._files)
        if n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros(n, dtype=np.uint64)])
        self._hashes[n] = np.uint64(int(phash, 16))
        self._files.append(file)

    def _match(self, sha256: str, phash: str) -> Match | None:
        if sha256 in self._by_sha:
            return Match("exact", self._by_sha[sha256])
        n = len(self._files)
        if not n or not phash:
            return None
        distance = np.bitwise_count(self._hashes[:n] ^ np.uint64(int(phash, 16)))
        i = int(np.argmin(distance))
        if int(distance[i]) <= self.max_distance:
            return Match("near", self._files[i], int(distance[i]))
        return None
