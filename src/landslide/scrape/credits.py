"""Which candidates led to each photo of a scrape run, and which of them its row credits."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from landslide.scrape.base import Candidate
from landslide.scrape.manifest import ManifestRow, ManifestWriter
from landslide.scrape.provenance import Provenance, best_provenance


class Credits:
    """Every candidate that led to each photo, so that its row credits the most
    informative of them (`best_provenance`), whatever order the threads met them in,
    and lists all their sources.

    An image URL is downloaded once: a candidate for a URL being downloaded waits for that
    download's photo; one for a URL whose photo is known is credited to it at once (its
    row rewritten if that improves it); one for a URL that gave no photo (refused, or a
    near duplicate of another) is dropped, as its download would be. A photo of an earlier
    run keeps its provenance unless a candidate says more (`best_provenance(keep=)`).
    """

    def __init__(self, writer: ManifestWriter, sources: Sequence[str], queries: Sequence[str]):
        self.writer = writer
        self.sources, self.queries = list(sources), list(queries)
        self._lock = threading.Lock()
        self._photo_of: dict[str, str | None] = {}  # image URL -> sha256 (None: no photo)
        self._waiting: dict[str, list[Provenance]] = {}  # URL being downloaded -> others
        self._found: dict[str, list[Provenance]] = {}  # sha256 -> this run's candidates
        self._rows: dict[str, ManifestRow] = {}  # sha256 -> its row, as in the manifest
        self._earlier: dict[str, ManifestRow] = {}  # sha256 -> as an earlier run left it
        self._new: list[str] = []  # photos this run added

    def load(self, rows: list[ManifestRow]) -> None:
        with self._lock:
            for row in rows:
                self._photo_of[row.image_url] = row.sha256
                self._rows[row.sha256] = self._earlier[row.sha256] = row

    def first(self, c: Candidate) -> bool:
        """True for a URL not met before (download it); else `c` is credited or waits."""
        with self._lock:
            url = c.image_url
            if url not in self._photo_of:
                self._photo_of[url] = None
                self._waiting[url] = []
                return True
            if url in self._waiting:
                self._waiting[url].append(Provenance.of(c))
            elif (sha := self._photo_of[url]) is not None:
                self._credit(sha, [Provenance.of(c)])
            return False

    def no_photo(self, c: Candidate) -> None:
        """The download of `c` gave no photo: the candidates waiting for it go too."""
        with self._lock:
            self._waiting.pop(c.image_url, None)

    def duplicate(self, c: Candidate, sha: str) -> None:
        """`c` gave the bytes of photo `sha` (collected before, or being recorded)."""
        with self._lock:
            self._photo_of[c.image_url] = sha
            self._credit(sha, [Provenance.of(c), *self._waiting.pop(c.image_url, [])])

    def new(self, c: Candidate, row: ManifestRow) -> None:
        """Record the new photo `row` that `c` gave, credited to the best candidate so far."""
        with self._lock:
            sha = row.sha256
            self._photo_of[c.image_url] = sha
            found = self._found.setdefault(sha, [])
            found += [Provenance.of(c), *self._waiting.pop(c.image_url, [])]
            self._rows[sha] = row = self._credited(row)
            self._new.append(sha)
            self.writer.add(row)

    def kept(self) -> list[ManifestRow]:
        """The rows of the photos this run added, as the manifest has them now."""
        with self._lock:
            return [self._rows[sha] for sha in self._new]

    def upgraded(self) -> int:
        """Photos of earlier runs now credited to another provenance."""
        with self._lock:
            return sum(
                self._rows[sha].provenance != row.provenance for sha, row in self._earlier.items()
            )

    def _credit(self, sha: str, found: list[Provenance]) -> None:
        self._found.setdefault(sha, []).extend(found)
        row = self._rows.get(sha)
        if row is None:
            return  # its download is recording it: `new` credits it with these as well
        better = self._credited(row)
        if better != row:
            self._rows[sha] = better
            self.writer.replace(better)

    def _credited(self, row: ManifestRow) -> ManifestRow:
        found = self._found.get(row.sha256, [])
        earlier = self._earlier.get(row.sha256)
        best = best_provenance(
            found,
            sources=self.sources,
            queries=self.queries,
            keep=earlier.provenance if earlier is not None else None,
        )
        return row.credited(best, (p.source for p in found))
