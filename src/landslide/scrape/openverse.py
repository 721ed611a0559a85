"""Openverse: openly licensed images from Flickr, Wikimedia and other providers.

`GET {openverse_url}?q=...&page=N&page_size=20` answers `results[]` with `url`,
`foreign_landing_url`, `title`, `creator`, `license`, `license_version`, `license_url`,
`attribution`, `source`, `width`, `height`. Anonymous limits are respected: pages of 20,
at most 240 results a query (12 pages), `scrape.openverse_interval_s` between calls,
and a 429's `Retry-After`. `scrape.licences` is passed on as `license=`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from landslide.scrape.base import Candidate, Source, licence_name, one_line, take
from landslide.scrape.download import Rejected

API_MAX_BYTES = 5_000_000
PAGE = 20  # anonymous page_size limit
MAX_RESULTS = 240  # how far anonymous requests may page


class Openverse(Source):
    name = "openverse"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_call = 0.0
        self._lock = threading.Lock()

    def search(self, query: str, limit: int) -> Iterator[Candidate]:
        yield from take(self._pages(query), min(limit, MAX_RESULTS))

    def _pages(self, query: str) -> Iterator[list[Candidate | None]]:
        """Each page's results, up to the last page."""
        page = 1
        while True:
            params: dict[str, Any] = {"q": query, "page": page, "page_size": PAGE}
            if self.p.licences:
                params["license"] = ",".join(self.p.licences)
            data = self._call(query, params, first=page == 1)
            if data is None:
                return  # paged past the end
            with self.reading(
                query,
                what="no valid results[]: ",
                hint="the Openverse API may have changed; check scrape.openverse_url",
            ):
                results = data["results"]
                if not isinstance(results, list):
                    raise TypeError(f"results is a {type(results).__name__}, not a list")
                found = [self._candidate(query, r) for r in results]
                page_count = data.get("page_count")
            yield found
            if not results or (isinstance(page_count, int) and page >= page_count):
                return
            page += 1

    def _call(self, query: str, params: dict[str, Any], *, first: bool) -> dict[str, Any] | None:
        with self._lock:  # anonymous rate: one call per openverse_interval_s
            wait = self._last_call + self.p.openverse_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_call = time.monotonic()
        try:
            r = self.api_get(self.p.openverse_url, params, API_MAX_BYTES)
        except Rejected as exc:
            if not first and exc.reason in ("http 400", "http 404"):
                return None  # Openverse refuses pages beyond the last one
            raise self.unreachable(query, exc) from None
        return self.json_object(
            query,
            r.body,
            hint=f"is scrape.openverse_url ({self.p.openverse_url}) the Openverse images API?",
        )

    def _candidate(self, query: str, r: dict[str, Any]) -> Candidate | None:
        url = r.get("url")
        if not isinstance(url, str) or not url:
            return None
        code = str(r.get("license") or "")
        width, height = r.get("width"), r.get("height")
        return Candidate(
            source=self.name,
            query=query,
            image_url=url,
            page_url=str(r.get("foreign_landing_url") or ""),
            title=one_line(r.get("title")),
            licence=licence_name(code, str(r.get("license_version") or "")),
            licence_url=str(r.get("license_url") or ""),
            author=one_line(r.get("creator")),
            attribution=one_line(r.get("attribution")),
            width=width if isinstance(width, int) else None,
            height=height if isinstance(height, int) else None,
        )
