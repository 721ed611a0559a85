"""The scrape stage: queries x sources -> new photos in `out_dir` and rows in its manifest.

One producer thread per source runs its searches (sources are independent hosts);
candidates go to a pool of `scrape.concurrency` download workers through a bounded
queue. Each worker downloads (see `download.Http`), decodes (`check_image`), and keeps
the photo only if neither its bytes nor its perceptual hash match a photo collected
before, in this run or an earlier one. A kept photo is written as `<sha256>.<ext>`
(never a name from the URL) and then recorded in the manifest.

The same photo may come from several sources, under one URL or several; its row credits
the most informative of them (`provenance.best_provenance`: a licence, an author, ...)
and lists them all, whatever order the threads met them in (`_Credits`). A photo of an
earlier run found again with a better provenance gets it, without being downloaded again.

A source that fails (malformed JSON, changed HTML, unreachable) is reported with its
name and query and the other sources go on; only when every search fails is the stage
an error (so the Prefect task retries it).
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from landslide.errors import ScrapeError
from landslide.io import write_bytes
from landslide.params import ScrapeParams
from landslide.scrape.base import Candidate, Source, SourceDown, licence_allowed
from landslide.scrape.bing import Bing
from landslide.scrape.commons import Commons
from landslide.scrape.dedup import DedupIndex
from landslide.scrape.download import Http, Rejected, check_image
from landslide.scrape.manifest import MANIFEST, ManifestRow, ManifestWriter
from landslide.scrape.openverse import Openverse
from landslide.scrape.provenance import Provenance, best_provenance

SOURCES: dict[str, type[Source]] = {"commons": Commons, "openverse": Openverse, "bing": Bing}


@dataclass(frozen=True)
class ScrapeCounts:
    """What the progress bar shows."""

    candidates: int
    downloaded: int
    duplicates: int
    rejected: int
    known: int

    @property
    def done(self) -> int:
        """Candidates dealt with so far (the bar's position; `candidates` is its total)."""
        return self.downloaded + self.duplicates + self.rejected + self.known


@dataclass
class ScrapeSummary:
    out_dir: Path
    candidates: int = 0  # search results seen
    downloaded: int = 0  # new photos kept
    exact_duplicates: int = 0
    near_duplicates: int = 0
    known: int = 0  # image URLs collected before (or twice in this run): not downloaded
    upgraded: int = 0  # photos of earlier runs credited to a more informative source
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> count
    kept_by_source: Counter[str] = field(default_factory=Counter)
    kept_by_query: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # "source: query 'q': what went wrong"
    failed_searches: int = 0  # (source, query) pairs that failed or were skipped
    notes: list[str] = field(default_factory=list)
    total: int = 0  # photos in the manifest after the run
    seconds: float = 0.0

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST

    @property
    def duplicates(self) -> int:
        return self.exact_duplicates + self.near_duplicates

    def counts(self) -> ScrapeCounts:
        return ScrapeCounts(
            self.candidates,
            self.downloaded,
            self.duplicates,
            sum(self.rejected.values()),
            self.known,
        )

    def summary_line(self) -> str:
        by_source = ", ".join(f"{k} {v}" for k, v in sorted(self.kept_by_source.items()))
        reasons = ", ".join(f"{k} {v}" for k, v in self.rejected.most_common(4))
        if len(self.rejected) > 4:
            reasons += ", ..."
        parts = [
            _n(self.candidates, "candidate"),
            _n(self.downloaded, "new photo") + (f" ({by_source})" if by_source else ""),
            f"{_n(self.duplicates, 'duplicate')} ({self.exact_duplicates} exact, "
            f"{self.near_duplicates} near)",
            f"{sum(self.rejected.values())} rejected" + (f" ({reasons})" if reasons else ""),
            f"{self.known} already collected",
        ]
        if self.errors:
            parts.append(_n(len(self.errors), "source error"))
        return (
            f"scrape: {', '.join(parts)}; manifest {self.total} photos -> {self.out_dir} "
            f"({self.seconds:.1f} s)"
        )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def scrape(
    out_dir: Path,
    p: ScrapeParams,
    *,
    queries: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    max_per_query: int | None = None,
    progress: Callable[[ScrapeCounts], None] | None = None,
) -> ScrapeSummary:
    """Search each source for each query; download, check and de-duplicate; record.

    `queries`, `sources` and `max_per_query` override `p`; `progress` is called with
    the running counts after every candidate.
    """
    started = time.monotonic()
    queries = [q.strip() for q in (queries or p.queries) if q.strip()]
    names = list(dict.fromkeys(sources or p.sources))
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ScrapeError(
            f"unknown source {unknown[0]!r} (known: {', '.join(SOURCES)})",
            hint="pass --source commons,openverse,bing",
        )
    if not queries:
        raise ScrapeError("no queries to search for", hint='pass --query "landslide"')
    limit = max_per_query or p.max_per_query
    if limit < 1:
        raise ScrapeError(f"--max must be at least 1, got {limit}")

    run = _Run(out_dir, p, progress, names, queries)
    if not p.contact:
        run.summary.notes.append(
            "scrape.contact is empty: Wikimedia asks for a contact (email or URL) in the "
            "User-Agent; set it in params.yaml"
        )
    rows = run.writer.open()
    run.summary.notes.extend(run.writer.notes)
    try:
        for row in rows:
            run.index.add(row.sha256, row.phash, row.file)
        run.credits.load(rows)
        with warnings.catch_warnings(), Http(p) as http:
            warnings.filterwarnings("ignore", module=r"PIL\.")  # EXIF/TIFF quirks of web photos
            # checked first: a photo between Pillow's warning and error limits is refused
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            run.go(http, [SOURCES[n](p, http) for n in names], queries, limit)
        run._report()  # the final counts, even when no search found anything
    finally:
        run.writer.close()
    s = run.summary
    s.errors = [message for *_, message in sorted(run.search_errors)]
    s.total = len(run.writer.rows)
    kept = run.credits.kept()
    s.kept_by_source = Counter(r.source for r in kept)
    s.kept_by_query = Counter(r.query for r in kept)
    s.upgraded = run.credits.upgraded()
    if s.upgraded:
        s.notes.append(
            f"{_n(s.upgraded, 'photo')} collected before now credited to a source that "
            "says more about it (licence, author)"
        )
    s.seconds = time.monotonic() - started
    searches = sum(SOURCES[n].accepts(q) for n in names for q in queries)
    if s.errors and s.failed_searches >= searches and not s.candidates:
        first, *rest = s.errors
        raise ScrapeError(
            f"every search failed; first: {first}",
            hint=f"{len(rest)} more: {'; '.join(rest)[:500]}" if rest else None,
        )
    return s


class _Run:
    """The state one scrape shares between its threads."""

    def __init__(
        self,
        out_dir: Path,
        p: ScrapeParams,
        progress: Callable[[ScrapeCounts], None] | None,
        sources: Sequence[str],
        queries: Sequence[str],
    ) -> None:
        self.out_dir = out_dir
        self.p = p
        self.progress = progress
        self.summary = ScrapeSummary(out_dir)
        self.writer = ManifestWriter(out_dir)
        self.index = DedupIndex(p.dup_distance)
        self.credits = _Credits(self.writer, sources, queries)
        # search errors by (source, query) order, not by which thread failed first
        self.order = {name: i for i, name in enumerate(sources)}
        self.queries = {query: i for i, query in enumerate(queries)}
        self.search_errors: list[tuple[int, int, str]] = []
        self.lock = threading.Lock()
        self.http: Http | None = None
        self.stop = False

    # ------------------------------------------------------------------ threads

    def go(self, http: Http, sources: list[Source], queries: list[str], limit: int) -> None:
        self.http = http
        slots = threading.BoundedSemaphore(self.p.concurrency * 4)
        failures: list[BaseException] = []
        with ThreadPoolExecutor(self.p.concurrency, thread_name_prefix="scrape-dl") as pool:

            def submit(candidate: Candidate) -> None:
                slots.acquire()
                future = pool.submit(self.download, candidate)
                future.add_done_callback(lambda f: (slots.release(), self._failed(f, failures)))

            producers = [
                threading.Thread(
                    target=self._produce,
                    args=(source, queries, limit, submit, failures),
                    name=f"scrape-{source.name}",
                    daemon=True,
                )
                for source in sources
            ]
            try:
                for t in producers:
                    t.start()
                for t in producers:
                    while t.is_alive():
                        t.join(0.2)
                        if failures:
                            break
            except BaseException:  # Ctrl-C: in-flight downloads give up, the rest is dropped
                self._halt(pool)
                raise
            if failures:
                self._halt(pool)
        if failures:
            raise failures[0]

    def _halt(self, pool: ThreadPoolExecutor) -> None:
        self.stop = True
        if self.http is not None:
            self.http.stop()
        pool.shutdown(wait=True, cancel_futures=True)

    def _failed(self, future: Future[None], failures: list[BaseException]) -> None:
        if not future.cancelled() and future.exception() is not None:
            failures.append(future.exception())  # type: ignore[arg-type]

    def _produce(
        self,
        source: Source,
        queries: list[str],
        limit: int,
        submit: Callable[[Candidate], None],
        failures: list[BaseException],
    ) -> None:
        try:
            todo = [q for q in queries if source.accepts(q)]
            for i, query in enumerate(todo):
                try:
                    for candidate in source.search(query, limit):
                        if self.stop:
                            return
                        if self._admit(candidate):
                            submit(candidate)
                except ScrapeError as exc:
                    message = " ".join(exc.render().split())
                    skipped = todo[i + 1 :]
                    if isinstance(exc, SourceDown) and skipped:
                        message += f" (skipped its {len(skipped)} other queries)"
                    down = isinstance(exc, SourceDown)
                    with self.lock:
                        key = (self.order.get(source.name, len(self.order)), self.queries[query])
                        self.search_errors.append((*key, message))
                        self.summary.failed_searches += 1 + (len(skipped) if down else 0)
                    if down:
                        return
        except BaseException as exc:  # a bug: stop the run and re-raise it in the caller
            failures.append(exc)

    def _admit(self, c: Candidate) -> bool:
        """Count the candidate; False for one not worth downloading."""
        reason = None
        if not licence_allowed(c, self.p.licences):
            reason = "licence"
        elif c.width and c.height and c.width * c.height > self.p.max_pixels:
            reason = "too many pixels"
        elif c.width and c.height and min(c.width, c.height) < self.p.min_side:
            reason = "too small"
        if reason is None and not self.credits.first(c):
            reason = "known"
        with self.lock:
            s = self.summary
            s.candidates += 1
            if reason == "known":
                s.known += 1
            elif reason:
                s.rejected[reason] += 1
        self._report()
        return reason is None

    def download(self, c: Candidate) -> None:
        if self.stop:
            return
        assert self.http is not None
        try:
            r = self.http.get(c.image_url, accept="image/jpeg,image/png,image/webp,image/*;q=0.8")
            checked = check_image(r.body, self.p)
        except Rejected as exc:
            self.credits.no_photo(c)
            with self.lock:
                self.summary.rejected[exc.reason] += 1
            self._report()
            return
        sha = hashlib.sha256(r.body).hexdigest()
        name = f"{sha}.{checked.ext}"
        match = self.index.claim(sha, checked.phash, name)
        if match is not None:
            if match.kind == "exact":
                self.credits.duplicate(c, sha)
            else:  # another photo, much like one collected: its provenance is not this one's
                self.credits.no_photo(c)
            with self.lock:
                if match.kind == "exact":
                    self.summary.exact_duplicates += 1
                else:
                    self.summary.near_duplicates += 1
            self._report()
            return
        path = self.out_dir / name  # a hex digest and a known extension: inside out_dir
        try:
            write_bytes(path, r.body)
        except OSError as exc:
            raise ScrapeError(f"cannot write a photo: {exc.strerror}", file=path) from None
        self.credits.new(
            c,
            ManifestRow(
                sha256=sha,
                phash=checked.phash,
                source=c.source,
                query=c.query,
                image_url=c.image_url,
                page_url=c.page_url,
                title=c.title,
                licence=c.licence,
                licence_url=c.licence_url,
                author=c.author,
                attribution=c.attribution,
                fetched_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                width=checked.width,
                height=checked.height,
                file=name,
            ),
        )
        with self.lock:
            self.summary.downloaded += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            with self.lock:  # in order: the last call shows the final counts
                self.progress(self.summary.counts())


class _Credits:
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
