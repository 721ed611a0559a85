"""The scrape stage: queries x sources -> new photos in `out_dir` and rows in its manifest.

One producer thread per source runs its searches (sources are independent hosts);
candidates go to a pool of `scrape.concurrency` download workers through a bounded
queue. Each worker downloads (see `download.Http`), decodes (`check_image`), and keeps
the photo only if neither its bytes nor its perceptual hash match a photo collected
before, in this run or an earlier one. A kept photo is written as `<sha256>.<ext>`
(never a name from the URL) and then recorded in the manifest.

The same photo may come from several sources, under one URL or several; its row credits
the most informative of them (`provenance.best_provenance`: a licence, an author, ...)
and lists them all, whatever order the threads met them in (`credits.Credits`). A photo
of an earlier run found again with a better provenance gets it, without being downloaded
again.

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
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from landslide.errors import ScrapeError
from landslide.io import write_bytes
from landslide.params import ScrapeParams
from landslide.scrape.base import Candidate, Source, SourceDown, licence_allowed
from landslide.scrape.bing import Bing
from landslide.scrape.commons import Commons
from landslide.scrape.credits import Credits
from landslide.scrape.dedup import DedupIndex
from landslide.scrape.download import Http, Rejected, check_image
from landslide.scrape.manifest import ManifestRow, ManifestWriter
from landslide.scrape.openverse import Openverse
from landslide.scrape.summary import ScrapeCounts, ScrapeSummary, plural

SOURCES: dict[str, type[Source]] = {"commons": Commons, "openverse": Openverse, "bing": Bing}


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
    queries, names, limit = _what_to_search(p, queries, sources, max_per_query)
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
    s = _tally(run)
    s.seconds = time.monotonic() - started
    searches = sum(SOURCES[n].accepts(q) for n in names for q in queries)
    if s.errors and s.failed_searches >= searches and not s.candidates:
        first, *rest = s.errors
        raise ScrapeError(
            f"every search failed; first: {first}",
            hint=f"{len(rest)} more: {'; '.join(rest)[:500]}" if rest else None,
        )
    return s


def _what_to_search(
    p: ScrapeParams,
    queries: Sequence[str] | None,
    sources: Sequence[str] | None,
    max_per_query: int | None,
) -> tuple[list[str], list[str], int]:
    """The queries, source names and results per query asked for (else `p`'s), checked."""
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
    return queries, names, limit


def _tally(run: _Run) -> ScrapeSummary:
    """The run's summary completed: its errors in (source, query) order, the manifest's
    total, the photos kept by source and query, the photos upgraded."""
    s = run.summary
    s.errors = [message for *_, message in sorted(run.search_errors)]
    s.total = len(run.writer.rows)
    kept = run.credits.kept()
    s.kept_by_source = Counter(r.source for r in kept)
    s.kept_by_query = Counter(r.query for r in kept)
    s.upgraded = run.credits.upgraded()
    if s.upgraded:
        s.notes.append(
            f"{plural(s.upgraded, 'photo')} collected before now credited to a source that "
            "says more about it (licence, author)"
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
        self.credits = Credits(self.writer, sources, queries)
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
