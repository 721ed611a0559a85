"""The scrape manifest: one CSV row per collected photo, beside the photos.

`data/raw/incoming/manifest.csv` has the header (exactly)::

    sha256,phash,source,query,image_url,page_url,title,licence,licence_url,author,
    attribution,fetched_at,width,height,file,sources

`file` is the photo's name relative to the manifest's folder (`<sha256>.<ext>`).
`source` ... `attribution` are the most informative provenance of all the search
results that led to the photo (`provenance.best_provenance`); `sources` lists every
source that returned it (sorted, `;`-joined). Manifests written before `sources` was
added (the header without it) are read as if it were `source`, and rewritten with it.
Other modules read it with `read_manifest(path) -> list[ManifestRow]`.

Writes are atomic: each commit rewrites the whole file through a temporary file and a
rename, and a photo is written before its row, so after a `kill -9` the manifest is
always a complete CSV and each row's photo is on disk. The next run removes photos
without a row (their download is redone) and leftover temporary files.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from landslide.errors import ScrapeError
from landslide.io import write_text
from landslide.scrape.provenance import Provenance, join_sources, split_sources

MANIFEST = "manifest.csv"
COMMIT_EVERY_S = 0.5  # a killed run loses at most this much work
IMAGE_NAME = re.compile(r"^[0-9a-f]{64}\.[a-z]{3,4}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_PHASH = re.compile(r"^([0-9a-f]{16})?$")
_TMP = re.compile(r"^\..+\.tmp$")  # io.atomic_open's temporary files


@dataclass(frozen=True)
class ManifestRow:
    sha256: str
    phash: str
    source: str
    query: str
    image_url: str
    page_url: str
    title: str
    licence: str
    licence_url: str
    author: str
    attribution: str
    fetched_at: str  # UTC, ISO 8601 (2025-01-31T12:00:00Z)
    width: int
    height: int
    file: str  # relative to the manifest's folder
    sources: str = ""  # every source that returned the photo: "bing;openverse"

    def as_csv(self) -> list[str]:
        return [str(v) for v in asdict(self).values()]

    @property
    def provenance(self) -> Provenance:
        return Provenance.of(self)

    def credited(self, p: Provenance, sources: Iterable[str] = ()) -> ManifestRow:
        """This photo credited to `p`, found by `sources` as well as those listed."""
        names = [*split_sources(self.sources), *sources, self.source, p.source]
        return replace(self, **asdict(p), sources=join_sources(names))


FIELDS = tuple(f.name for f in fields(ManifestRow))
LEGACY_FIELDS = FIELDS[:-1]  # manifests written before `sources`


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """The rows of a manifest; [] when the file does not exist (nothing scraped yet).

    Raises ScrapeError naming the line for a wrong header, a short row, a bad hash, a
    size that is not a number or a `file` that is not a plain name in the folder. A
    manifest without `sources` (written before it was added) is read with `source` there.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ScrapeError(f"cannot read the manifest: {exc}", file=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    names = tuple(header)
    if names not in (FIELDS, LEGACY_FIELDS):
        raise ScrapeError(
            f"unexpected header {','.join(header)[:200]!r}",
            file=path,
            where="line 1",
            hint=f"expected: {','.join(FIELDS)}",
        )
    rows = []
    for values in reader:
        if not values:
            continue
        where = f"line {reader.line_num}"
        if len(values) != len(names):
            raise ScrapeError(
                f"expected {len(names)} fields, got {len(values)}", file=path, where=where
            )
        raw = dict(zip(names, values, strict=True))
        if not _SHA.match(raw["sha256"]):
            raise ScrapeError(
                f"sha256: not 64 hex digits: {raw['sha256'][:80]!r}", file=path, where=where
            )
        if not _PHASH.match(raw["phash"]):
            raise ScrapeError(
                f"phash: not 16 hex digits: {raw['phash'][:80]!r}", file=path, where=where
            )
        name = raw["file"]
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ScrapeError(f"file: not a plain file name: {name[:80]!r}", file=path, where=where)
        try:
            width, height = int(raw.pop("width")), int(raw.pop("height"))
        except ValueError:
            raise ScrapeError(
                "width and height must be whole numbers", file=path, where=where
            ) from None
        raw["sources"] = join_sources([*split_sources(raw.get("sources", "")), raw["source"]])
        rows.append(ManifestRow(**raw, width=width, height=height))
    return rows


def manifest_counts(rows: list[ManifestRow]) -> dict[str, Counter[str]]:
    """Photos per source, per licence and per query (for `landslide scrape report`)."""
    return {
        "source": Counter(r.source for r in rows),
        "licence": Counter(r.licence or "unknown" for r in rows),
        "query": Counter(r.query for r in rows),
    }


@dataclass(frozen=True)
class ManifestReport:
    manifest: Path
    photos: int
    counts: dict[str, Counter[str]]
    missing: list[str]  # rows whose file is not in the folder (moved or deleted)

    def summary_line(self) -> str:
        missing = f", {len(self.missing)} without their file" if self.missing else ""
        sources = ", ".join(f"{k} {v}" for k, v in self.counts["source"].most_common())
        return (
            f"scrape report: {self.photos} photos ({sources or 'none'}){missing} in {self.manifest}"
        )


def manifest_report(folder: Path) -> ManifestReport:
    """What `landslide scrape report` prints: counts per source, licence and query."""
    path = folder / MANIFEST
    rows = read_manifest(path)
    missing = [r.file for r in rows if not (folder / r.file).is_file()]
    return ManifestReport(path, len(rows), manifest_counts(rows), missing)


class ManifestWriter:
    """The manifest of one folder, held exclusively (a lock on the folder) while open.

    `add` (a new photo) and `replace` (a photo's row, by sha256) buffer rows and commit at
    most every `COMMIT_EVERY_S`; `close` commits the rest.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST
        self.rows: list[ManifestRow] = []
        self.notes: list[str] = []
        self._lines: list[str] = []  # each row as CSV text
        self._where: dict[str, int] = {}  # sha256 -> its row's place in `rows`
        self._dirty = False
        self._last_commit = time.monotonic()
        self._lock = threading.Lock()
        self._fd: int | None = None

    def open(self) -> list[ManifestRow]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise ScrapeError(
                f"cannot use the output folder: {exc.strerror}", file=self.folder
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ScrapeError(
                "another scrape is writing to this folder",
                file=self.folder,
                hint="wait for it to finish, or pass another --out",
            ) from None
        self.rows = read_manifest(self.path)
        self._lines = [_csv_line(r.as_csv()) for r in self.rows]
        self._where = {r.sha256: i for i, r in enumerate(self.rows)}
        self._reconcile()
        return list(self.rows)

    def _reconcile(self) -> None:
        """Remove what a killed run left behind: temporary files, photos without a row."""
        listed = {r.file for r in self.rows}
        orphans = leftovers = 0
        for entry in os.scandir(self.folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            if _TMP.match(entry.name):
                Path(entry.path).unlink(missing_ok=True)
                leftovers += 1
            elif IMAGE_NAME.match(entry.name) and entry.name not in listed:
                Path(entry.path).unlink(missing_ok=True)
                orphans += 1
        if orphans:
            self.notes.append(f"removed {orphans} photos of an interrupted run that had no row")
        if leftovers:
            self.notes.append(f"removed {leftovers} temporary files of an interrupted run")
        missing = sum(not (self.folder / name).exists() for name in listed)
        if missing:
            self.notes.append(
                f"{missing} photos in the manifest have no file here (moved or deleted); "
                "they still count as collected"
            )
        if not self.path.exists():
            self.commit(force=True)  # the header, so readers find a manifest from the start

    def add(self, row: ManifestRow) -> None:
        with self._lock:
            self._where[row.sha256] = len(self.rows)
            self.rows.append(row)
            self._lines.append(_csv_line(row.as_csv()))
            self._changed()

    def replace(self, row: ManifestRow) -> None:
        """The row of the photo with this sha256 becomes `row` (its provenance improved)."""
        with self._lock:
            i = self._where[row.sha256]
            self.rows[i] = row
            self._lines[i] = _csv_line(row.as_csv())
            self._changed()

    def _changed(self) -> None:
        self._dirty = True
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
            self._commit()

    def commit(self, *, force: bool = False) -> None:
        with self._lock:
            if self._dirty or force:
                self._commit()

    def _commit(self) -> None:
        try:
            write_text(self.path, _csv_line(list(FIELDS)) + "".join(self._lines))
        except OSError as exc:
            raise ScrapeError(
                f"cannot write the manifest: {exc.strerror}", file=self.path
            ) from None
        self._dirty = False
        self._last_commit = time.monotonic()

    def close(self) -> None:
        try:
            if self._fd is not None:
                self.commit()
        finally:
            if self._fd is not None:
                os.close(self._fd)  # releases the lock
                self._fd = None


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()
