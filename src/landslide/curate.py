"""The curation checkpoint: the photo catalogue, the decisions store, `apply`, the count.

A person decides, photo by photo, what goes into the curated set (the gallery page of
`landslide.curate_app`, `landslide curate serve`). This module holds everything that page
and the CLI do with files, so each is a function with explicit inputs and outputs:

- the **catalogue**: the scraped photos of the scrape manifest (`scrape.out_dir`/
  `manifest.csv`) and the photos already in the curated set (`data/raw/images/`, with
  `data/raw/provenance.csv`), keyed by sha256, near-duplicates (perceptual-hash distance
  <= `scrape.dup_distance`) grouped and listed next to each other (`load_catalogue`);
- the **decisions store**: `decisions.csv` (`curate.decisions`, kept in git), one row per
  photo keyed by sha256: decision (accepted / rejected / undecided), label (landslide /
  non-landslide / unsure), note, who, when. `DecisionStore.update` takes a file lock and
  reads, modifies and atomically rewrites the file, so two browser tabs (or two servers)
  never lose each other's decisions;
- **apply** (`apply_decisions`): accepted scraped photos are copied (verified by sha256)
  into the curated set, their provenance appended to `provenance.csv`, and the VIA project
  extended with them for the annotators (existing regions kept); with a prefill model
  (`--prefill` or `annotate.prefill_model`) the new photos arrive pre-outlined by it
  (`landslide.annotations.prefill`);
- the **checkpoint** (`curation_status`, `checkpoint`): how many photos still wait for a
  person: photos with no decision, accepted scraped photos not applied yet, and accepted
  landslide photos without a landslide polygon. The flow pauses until it is zero.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import re
import shutil
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock
from filelock import Timeout as LockTimeout

from landslide import stages as S
from landslide.errors import CurationError
from landslide.io import atomic_open, sha256_file, write_bytes, write_csv, write_json

if TYPE_CHECKING:
    from landslide.annotations import Annotations
    from landslide.annotations.prefill import PrefillSummary
    from landslide.params import CurateParams, Params

DECISION_FIELDS = ("sha256", "file", "decision", "label", "note", "who", "when")
DECISIONS = ("accepted", "rejected", "undecided")
LABELS = ("landslide", "non-landslide", "unsure")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}

MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = (
    *("sha256", "phash", "source", "query", "image_url", "page_url", "title"),
    *("licence", "licence_url", "author", "attribution", "fetched_at", "width", "height", "file"),
)
PROVENANCE_NAME = "provenance.csv"
PROVENANCE_FIELDS = (
    *("file", "sha256", "source", "url", "page_url", "title", "author", "licence"),
    *("licence_url", "attribution", "query", "fetched_at", "phash", "width", "height"),
)
REJECTED_DIR = "rejected"  # next to the images folder: where `apply --prune` moves photos
PHASH_CACHE = "phash.json"

MAX_TEXT = 1000  # characters kept of any text read from a manifest or provenance table
MAX_NOTE = 500  # characters of a curator's note
LOCK_TIMEOUT_S = 10.0
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ============================================================================ paths


@dataclass(frozen=True)
class CurationPaths:
    """Every file curation reads or writes, resolved against the project root."""

    images_dir: Path  # the curated set
    via_project: Path
    provenance: Path
    manifest: Path  # the scrape manifest
    decisions: Path
    cache_dir: Path  # thumbnails and perceptual hashes

    @classmethod
    def from_params(cls, params: Params, root: Path = Path(".")) -> CurationPaths:
        root = Path(root)
        images = root / S.RAW_IMAGES
        return cls(
            images_dir=images,
            via_project=root / S.VIA_PROJECT,
            provenance=images.parent / PROVENANCE_NAME,
            manifest=root / params.scrape.out_dir / MANIFEST_NAME,
            decisions=root / params.curate.decisions,
            cache_dir=root / params.curate.cache_dir,
        )

    @property
    def rejected_dir(self) -> Path:
        return self.images_dir.parent / REJECTED_DIR


# ============================================================================ decisions


@dataclass(frozen=True)
class Decision:
    sha256: str
    file: str
    decision: str
    label: str
    note: str = ""
    who: str = ""
    when: str = ""


@dataclass(frozen=True)
class Change:
    """What a person changed about one photo; None leaves a field as it is."""

    sha256: str
    file: str = ""
    decision: str | None = None
    label: str | None = None  # "" clears the label
    note: str | None = None


def read_decisions(path: Path) -> dict[str, Decision]:
    """Decisions by sha256, in file order; a missing file means nothing is decided yet."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CurationError(f"cannot read: {exc}", file=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("sha256", "decision", "label") if c not in (reader.fieldnames or [])]
    if missing:
        raise CurationError(
            f"missing columns: {', '.join(missing)} (expected {', '.join(DECISION_FIELDS)})",
            file=path,
        )
    out: dict[str, Decision] = {}
    for line, row in enumerate(reader, start=2):
        decision, label = (row["decision"] or "").strip(), (row["label"] or "").strip()
        if decision not in DECISIONS:
            raise CurationError(
                f"decision {decision!r} unknown (known: {', '.join(DECISIONS)})",
                file=path,
                where=f"line {line}",
            )
        if label and label not in LABELS:
            raise CurationError(
                f"label {label!r} unknown (known: {', '.join(LABELS)})",
                file=path,
                where=f"line {line}",
            )
        fields = {k: (row.get(k) or "").strip() for k in DECISION_FIELDS}
        out[fields["sha256"]] = Decision(**{**fields, "decision": decision, "label": label})
    return out


def default_curator(p: CurateParams) -> str:
    """Who decides: `curate.curator`, else the OS user."""
    if p.curator.strip():
        return clean_text(p.curator, 100)
    try:
        return clean_text(getpass.getuser(), 100) or "unknown"
    except Exception:  # no user name in the environment or the password database
        return "unknown"


def clean_text(value: str, limit: int) -> str:
    """One line of printable text, at most `limit` characters."""
    value = unicodedata.normalize("NFC", _CONTROL.sub(" ", value)).strip()
    return value[:limit]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DecisionStore:
    """`decisions.csv` behind a file lock: every update is read, modify, atomic write."""

    def __init__(self, path: Path, who: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.who = who
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"), timeout=timeout_s)
        self._threads = threading.Lock()

    def read(self) -> dict[str, Decision]:
        return read_decisions(self.path)

    def update(self, changes: Sequence[Change], *, when: str | None = None) -> list[Decision]:
        """Apply `changes` (validated first); return each photo's decision afterwards.

        A change that changes nothing leaves its row (and its who/when) as it was.
        """
        for change in changes:
            _check_change(change)
        stamp = when or _now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._threads, self._lock:
                rows = self.read()
                result, changed = [], False
                for change in changes:
                    before = rows.get(change.sha256)
                    after = _changed(before, change, self.who, stamp)
                    if after != before:
                        rows[change.sha256] = after
                        changed = True
                    result.append(rows[change.sha256])
                if changed:
                    write_csv(self.path, (asdict(d) for d in rows.values()), DECISION_FIELDS)
                return result
        except LockTimeout:
            raise CurationError(
                f"locked by another process for more than {self._lock.timeout:g} s",
                file=self.path,
                hint=f"if no other `landslide curate` runs, remove {self._lock.lock_file}",
            ) from None


def _check_change(change: Change) -> None:
    if not SHA256.match(change.sha256):
        raise CurationError(f"sha256 {change.sha256[:80]!r} is not 64 lowercase hex digits")
    if change.decision is not None and change.decision not in DECISIONS:
        raise CurationError(
            f"decision {change.decision[:40]!r} unknown (known: {', '.join(DECISIONS)})"
        )
    if change.label not in (None, "", *LABELS):
        raise CurationError(f"label {change.label[:40]!r} unknown (known: {', '.join(LABELS)})")
    if change.note is not None and len(change.note) > MAX_NOTE:
        raise CurationError(f"note longer than {MAX_NOTE} characters")


def _changed(before: Decision | None, change: Change, who: str, when: str) -> Decision:
    old = before or Decision(change.sha256, change.file, "undecided", "")
    decision = old.decision if change.decision is None else change.decision
    label = old.label if change.label is None else change.label
    note = old.note if change.note is None else clean_text(change.note, MAX_NOTE)
    if before is not None and (decision, label, note) == (old.decision, old.label, old.note):
        return before
    return Decision(
        sha256=change.sha256,
        file=clean_text(change.file or old.file, MAX_TEXT),
        decision=decision,
        label=label,
        note=note,
        who=who,
        when=when,
    )


# ============================================================================ catalogue


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
            Photo(
                sha256=sha,
                path=file,
                name=name,
                origin="incoming",
                source=get("source") or "scrape",
                query=get("query"),
                title=get("title"),
                licence=get("licence"),
                licence_url=get("licence_url"),
                author=get("author"),
                attribution=get("attribution"),
                page_url=get("page_url"),
                image_url=get("image_url"),
                fetched_at=get("fetched_at"),
                width=_int(get("width")),
                height=_int(get("height")),
                phash=get("phash").lower(),
            )
        )
    return photos


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
            Photo(
                sha256=sha,
                path=path,
                name=name,
                origin="curated",
                source=get("source") or "local",
                query=get("query"),
                title=get("title") or name,
                licence=get("licence"),
                licence_url=get("licence_url"),
                author=get("author"),
                attribution=get("attribution"),
                page_url=get("page_url"),
                image_url=get("url") or get("image_url"),
                fetched_at=get("fetched_at"),
                width=_int(get("width")),
                height=_int(get("height")),
                phash=get("phash").lower(),
            )
        )
    return photos


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


# ============================================================================ thumbnails


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


# ============================================================================ checkpoint


@dataclass
class CurationStatus:
    """How many photos are decided and annotated, and which still wait for a person."""

    photos: int
    accepted: int
    rejected: int
    undecided: list[str] = field(default_factory=list)  # file names
    unannotated: list[str] = field(default_factory=list)  # accepted landslide, no polygon
    unapplied: list[str] = field(default_factory=list)  # accepted, scraped, not copied yet
    incoming: int = 0  # scraped photos not in the curated set
    labels: dict[str, int] = field(default_factory=dict)  # label -> decided photos

    @property
    def waiting(self) -> int:
        return len(self.undecided) + len(self.unannotated) + len(self.unapplied)

    def summary_line(self) -> str:
        line = (
            f"curation: {self.photos} photos, {self.accepted} accepted, {self.rejected} "
            f"rejected, {len(self.undecided)} undecided, {len(self.unannotated)} accepted "
            f"landslide photos without a polygon"
        )
        if self.unapplied:
            line += f", {len(self.unapplied)} accepted not applied (`landslide curate apply`)"
        return line


def curation_status(
    images_dir: Path,
    decisions: Path,
    annotated: set[str],
    manifest: Path | None = None,
) -> CurationStatus:
    """Count what waits for a person.

    `annotated` holds the file names that have at least one landslide polygon in the
    annotators' project (see `landslide.annotations`). With `manifest` (the scrape
    manifest), its photos that are not in `images_dir` count too: undecided ones wait
    for a decision, accepted ones for `landslide curate apply`.
    """
    store = read_decisions(decisions)
    status = CurationStatus(photos=0, accepted=0, rejected=0)
    seen: set[str] = set()

    def count(sha: str, name: str, incoming: bool) -> None:
        seen.add(sha)
        status.photos += 1
        status.incoming += incoming
        d = store.get(sha)
        if d is not None and d.label:
            status.labels[d.label] = status.labels.get(d.label, 0) + 1
        if d is None or d.decision == "undecided":
            status.undecided.append(name)
        elif d.decision == "rejected":
            status.rejected += 1
        else:
            status.accepted += 1
            if incoming:
                status.unapplied.append(name)
            elif d.label == "landslide" and name not in annotated:
                status.unannotated.append(name)

    for path in image_files(images_dir):
        sha = sha256_file(path)
        if sha not in seen:
            count(sha, path.relative_to(images_dir).as_posix(), incoming=False)
    for photo in read_manifest(manifest) if manifest is not None else []:
        if photo.sha256 not in seen and photo.path.is_file():
            count(photo.sha256, photo.name, incoming=True)
    return status


def annotated_photos(via_project: Path, params: Params) -> set[str]:
    """File names with at least one landslide polygon in the VIA project (none: empty)."""
    if not via_project.exists():
        return set()
    from landslide.annotations import read_via

    # a landslide polygon counts once it is reviewed, as the training data will read it
    review = params.annotate.review
    ann = read_via(via_project, None, params.annotations, params.classes, review=review)
    return {im.file_name for im in ann.images if im.has_landslide}


def checkpoint(params: Params, root: Path = Path(".")) -> CurationStatus:
    """What the flow waits on: undecided photos (curated set and scrape manifest),
    accepted ones not applied, accepted landslide photos without a polygon."""
    paths = CurationPaths.from_params(params, root)
    annotated = annotated_photos(paths.via_project, params)
    return curation_status(paths.images_dir, paths.decisions, annotated, paths.manifest)


# ============================================================================ apply


@dataclass(frozen=True)
class ApplySummary:
    """What `apply_decisions` did."""

    accepted: int  # accepted photos known to the catalogue
    copied: list[str]  # names added to the curated set
    already: int  # accepted photos that were in the curated set before
    rejected_in_set: list[str]  # rejected photos still in the curated set (not pruned)
    pruned: list[str]  # rejected photos moved out of the curated set
    via_images: int
    via_regions: int
    via_written: bool
    images_dir: Path
    via_project: Path
    prefilled: int = 0  # new photos given model regions
    prefill_regions: int = 0  # model regions added (source: model)
    notes: list[str] = field(default_factory=list)  # e.g. no champion yet: no prefill

    def summary_line(self) -> str:
        line = (
            f"apply: {self.accepted} accepted, {len(self.copied)} copied into "
            f"{self.images_dir}, {self.already} already there"
        )
        if self.pruned:
            line += f", {len(self.pruned)} rejected moved out"
        line += (
            f"; VIA project {self.via_project}: {self.via_images} photos, "
            f"{self.via_regions} regions ({'written' if self.via_written else 'unchanged'})"
        )
        if self.prefill_regions or self.prefilled:
            line += (
                f"; pre-filled {self.prefilled} new photos with "
                f"{self.prefill_regions} model regions"
            )
        return line


def apply_decisions(
    paths: CurationPaths,
    params: Params,
    *,
    prune: bool = False,
    progress: Callable[[int], None] | None = None,
    prefill: str | None = None,
) -> ApplySummary:
    """Copy accepted scraped photos into the curated set; extend provenance and VIA project.

    Copies are verified against the manifest's sha256. The VIA project keeps every
    image and region it has and gains the accepted photos it lacks (no regions), written
    with the annotations module's template writer; it is rewritten only when it changes.
    Rejected photos found in the curated set are reported, or with `prune` moved to
    `rejected/` next to the images folder and dropped from the project and provenance.

    `prefill` (default `annotate.prefill_model`; "" = off) names a model that outlines the
    photos added to the project (regions marked `source: model`). It is loaded before
    anything is copied, and only when photos will be added; a `models:/` URI whose
    registry or alias does not exist yet adds them without, and says so in `notes`.
    """
    store = read_decisions(paths.decisions)
    accepted = {sha for sha, d in store.items() if d.decision == "accepted"}
    project = _read_via(paths, params)  # before anything is written: a bad project stops here
    curated = {
        sha256_file(p): p.relative_to(paths.images_dir).as_posix()
        for p in image_files(paths.images_dir)
    }
    header, provenance = read_table(paths.provenance)
    todo: dict[str, Photo] = {}
    for photo in read_manifest(paths.manifest):
        if photo.sha256 not in accepted or photo.sha256 in curated or photo.sha256 in todo:
            continue
        if not photo.path.is_file():
            raise CurationError(
                "accepted photo not found",
                file=photo.path,
                hint="scrape it again, or set its decision to rejected",
            )
        todo[photo.sha256] = photo
    already = sum(1 for sha in accepted if sha in curated)
    spec = params.annotate.prefill_model if prefill is None else prefill
    listed = {im.file_name for im in project.images}
    adding = bool(todo) or any(n not in listed for sha, n in curated.items() if sha in accepted)
    detector, notes = _prefill_detector(spec, params) if spec and adding else (None, [])
    copied: list[str] = []
    new_rows: list[dict[str, str]] = []
    for photo in todo.values():
        name = _target_name(photo, paths.images_dir)
        _copy_verified(photo.path, paths.images_dir / name, photo.sha256)
        curated[photo.sha256] = name
        copied.append(name)
        new_rows.append(_provenance_row(photo, name))
        if progress is not None:
            progress(1)
    rejected_in_set = sorted(
        name for sha, name in curated.items() if sha in store and store[sha].decision == "rejected"
    )
    pruned: list[str] = []
    if prune:
        for name in rejected_in_set:
            target = paths.rejected_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(paths.images_dir / name, target)
            pruned.append(name)
        rejected_in_set = []
    if new_rows or pruned:
        gone = set(pruned)
        fields = [*header, *(f for f in PROVENANCE_FIELDS if f not in header)]
        rows = [r for r in provenance if r.get("file") not in gone] + new_rows
        write_csv(paths.provenance, rows, fields)
    want = sorted(name for sha, name in curated.items() if sha in accepted)
    images, regions, written, filled = _extend_via(
        paths, params, project, want, set(pruned), detector
    )
    skipped = filled.skipped if filled else []
    notes += [f"prefill skipped {file}: {why}" for file, why in skipped]
    return ApplySummary(
        accepted=len(accepted & set(curated)),
        copied=copied,
        already=already,
        rejected_in_set=rejected_in_set,
        pruned=pruned,
        via_images=images,
        via_regions=regions,
        via_written=written,
        images_dir=paths.images_dir,
        via_project=paths.via_project,
        prefilled=filled.prefilled if filled else 0,
        prefill_regions=filled.regions if filled else 0,
        notes=notes,
    )


def _prefill_detector(spec: str, params: Params) -> tuple[Any, list[str]]:
    """The prefill model `spec` names, or (None, a note) for a registry without it yet."""
    from landslide.errors import ServingError
    from landslide.predict import load_detector

    if not spec.startswith("models:/"):
        return load_detector(spec, params), []  # a path or run the user named: errors stop
    from landslide.tracking import tracking_uri

    uri = tracking_uri(params.mlflow)
    without = f"no prefill: {spec} is not available"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None, [f"{without} (no model registry at {uri} yet); photos added without"]
    try:
        return load_detector(spec, params), []
    except ServingError as exc:
        return None, [f"{without} ({exc.message}); photos added without"]


def _target_name(photo: Photo, images_dir: Path) -> str:
    """The manifest's file name; a clash with another photo gets the sha256 prefix."""
    name = Path(photo.name).name
    if not (images_dir / name).exists():
        return name
    stem, suffix = Path(name).stem, Path(name).suffix
    return f"{stem}_{photo.sha256[:12]}{suffix}"


def _copy_verified(src: Path, dest: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with atomic_open(dest, "wb") as out, src.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            out.write(block)
        if digest.hexdigest() != sha256:
            raise CurationError(
                f"content changed since the scrape: sha256 {digest.hexdigest()[:12]}..., "
                f"manifest says {sha256[:12]}...",
                file=src,
                hint="scrape it again (the manifest and the file must agree)",
            )


def _provenance_row(photo: Photo, name: str) -> dict[str, str]:
    return {
        "file": name,
        "sha256": photo.sha256,
        "source": photo.source,
        "url": photo.image_url,
        "page_url": photo.page_url,
        "title": photo.title,
        "author": photo.author,
        "licence": photo.licence,
        "licence_url": photo.licence_url,
        "attribution": photo.attribution,
        "query": photo.query,
        "fetched_at": photo.fetched_at,
        "phash": photo.phash,
        "width": "" if photo.width is None else str(photo.width),
        "height": "" if photo.height is None else str(photo.height),
    }


def _read_via(paths: CurationPaths, params: Params) -> Annotations:
    """The VIA project as written (names and regions; no photo is opened), or an empty one."""
    from landslide.annotations import Annotations, load_annotations

    if paths.via_project.exists():  # every region as written: the project is rewritten
        return load_annotations(paths.via_project, None, params, review=False)
    return Annotations(images=[], source=str(paths.via_project))


def _extend_via(
    paths: CurationPaths,
    params: Params,
    ann: Annotations,
    want: Iterable[str],
    drop: set[str],
    detector: Any = None,
) -> tuple[int, int, bool, PrefillSummary | None]:
    """Add the photos `want` to the VIA project `ann` (keeping its regions), drop `drop`;
    `detector` outlines the photos added."""
    from landslide.annotations import ImageAnn
    from landslide.annotations.prefill import prefill_project
    from landslide.annotations.writers import template_project

    listed = {im.file_name for im in ann.images}
    added = [ImageAnn(name) for name in want if name not in listed]
    kept = [im for im in ann.images if im.file_name not in drop]
    written = (bool(added) or len(kept) != len(ann.images)) and bool(kept or added)
    ann = replace(ann, images=kept + added)
    filled = None
    if detector is not None and added:
        only = [im.file_name for im in added]
        ann, filled = prefill_project(paths.images_dir, detector, params, ann, only=only)
    if written:
        template_project(
            paths.images_dir,
            paths.via_project,
            params.classes,
            params.annotations.class_attribute,
            ann,
        )
    regions = sum(len(im.regions) for im in ann.images)
    return len(ann.images), regions, written, filled
