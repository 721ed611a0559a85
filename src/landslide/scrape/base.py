"""What every source shares: the `Candidate` record (a `Provenance` and a size), the
`Source` interface, licences.

A source turns a query into candidates (an image URL with its provenance); it never
downloads images. Each source is one small module (`commons`, `openverse`, `bing`)
with a class registered in `SOURCES` under its params name.

Anything a source cannot make sense of (malformed JSON, a changed HTML layout, an
API error) is a `ScrapeError` whose `where` names the source and query; the stage
records it and goes on with the other sources.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from landslide.errors import ScrapeError
from landslide.params import ScrapeParams

if TYPE_CHECKING:
    from landslide.scrape.download import Http, Rejected, Response

CATEGORY_PREFIX = "Category:"  # a query naming a Commons category (its members, not a search)
UNKNOWN_LICENCE = "unknown"
UNVERIFIED = "unverified"  # in a licence that is only a guess (Bing's licence filter)


@dataclass(frozen=True)
class Provenance:
    """Where a photo was found and what is known about its rights (manifest columns)."""

    source: str
    query: str
    image_url: str
    page_url: str = ""
    title: str = ""
    licence: str = UNKNOWN_LICENCE  # human-readable, e.g. "CC BY-SA 4.0"
    licence_url: str = ""
    author: str = ""
    attribution: str = ""

    @classmethod
    def of(cls, found: Any) -> Provenance:
        """The provenance fields of a `Candidate`, a manifest row or anything holding them."""
        return cls(**{f.name: getattr(found, f.name) for f in fields(cls)})

    @property
    def strength(self) -> tuple[int, int]:
        """(licence: 2 stated, 1 a guess, 0 unknown; how many of author, attribution,
        licence_url and page_url are filled): larger is more informative."""
        licence = self.licence.strip()
        if not licence or licence.lower() == UNKNOWN_LICENCE:
            stated = 0
        else:
            stated = 1 if UNVERIFIED in licence.lower() else 2
        filled = sum(
            bool(v.strip())
            for v in (self.author, self.attribution, self.licence_url, self.page_url)
        )
        return stated, filled


@dataclass(frozen=True)
class Candidate(Provenance):
    """One search result: where the image is and what is known about its rights (the
    `Provenance` fields), with the size the source reports."""

    width: int | None = None  # as the source reports them, when it does
    height: int | None = None
    licence_checked: bool = False  # the source already filtered by `scrape.licences`

    @property
    def licence_code(self) -> str:
        """Openverse-style code (cc0, pdm, by, by-sa, ...) or '' when not recognised."""
        return licence_code(self.licence, self.licence_url)


class Source(ABC):
    """A search engine or open archive. Subclasses set `name` and implement `search`."""

    name: ClassVar[str]

    def __init__(self, p: ScrapeParams, http: Http) -> None:
        self.p = p
        self.http = http

    @abstractmethod
    def search(self, query: str, limit: int) -> Iterator[Candidate]:
        """Up to `limit` candidates for `query`, best first; raises ScrapeError."""

    @classmethod
    def accepts(cls, query: str) -> bool:
        """Whether this source can answer the query (only Commons knows categories)."""
        return not query.startswith(CATEGORY_PREFIX)

    def api_get(self, url: str, params: dict[str, Any], max_bytes: int) -> Response:
        """A GET of a documented JSON API (not a crawl: no robots.txt); raises `Rejected`."""
        return self.http.get(
            url, params=params, robots=False, max_bytes=max_bytes, accept="application/json"
        )

    def error(self, query: str, message: str, hint: str | None = None) -> ScrapeError:
        return ScrapeError(message, where=f"{self.name}: query {query!r}", hint=hint)

    def json_object(self, query: str, body: bytes, *, hint: str) -> dict[str, Any]:
        """An API answer as a JSON object; a ScrapeError for malformed JSON or another value."""
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise self.error(query, f"the API answered malformed JSON ({exc})", hint=hint) from None
        if not isinstance(data, dict):
            raise self.error(query, "the API answered JSON that is not an object")
        return data

    @contextmanager
    def reading(self, query: str, *, hint: str, what: str = "") -> Iterator[None]:
        """What reading an API answer of an unexpected shape raises, as a ScrapeError."""
        try:
            yield
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise self.error(query, f"unexpected API response ({what}{exc})", hint=hint) from None

    def unreachable(self, query: str, exc: Rejected, hint: str | None = None) -> ScrapeError:
        """A failed request; when the service cannot be reached at all, a `SourceDown`."""
        cls = SourceDown if exc.reason in DOWN else ScrapeError
        what = "API request" if self.name != "bing" else "result page"
        return cls(f"{what} failed: {exc}", where=f"{self.name}: query {query!r}", hint=hint)


class SourceDown(ScrapeError):
    """The source cannot be reached (no network, refused, timing out, disallowed): its
    other queries are skipped rather than each waiting through the same retries."""


DOWN = ("connection", "timeout", "robots.txt", "bad url", "stopped")


def take(pages: Iterable[list[Candidate | None]], limit: int) -> Iterator[Candidate]:
    """The first `limit` candidates of a paged search (None, a result that is no photo,
    is skipped); no further page is asked for once `limit` is reached."""
    produced = 0
    if limit < 1:
        return
    for found in pages:
        for candidate in found:
            if candidate is None:
                continue
            yield candidate
            produced += 1
            if produced >= limit:
                return


# ------------------------------------------------------------------------ text helpers

_SPACE = re.compile(r"\s+")


def one_line(text: object, limit: int = 1000) -> str:
    """Whitespace collapsed, control characters gone, at most `limit` characters."""
    if text is None:
        return ""
    s = _SPACE.sub(" ", str(text)).strip()
    s = "".join(c for c in s if c.isprintable())
    return s[:limit]


def html_text(html: object, limit: int = 1000) -> str:
    """The visible text of an HTML fragment (Commons' Artist and Attribution are HTML)."""
    if not html:
        return ""
    from bs4 import BeautifulSoup

    return one_line(BeautifulSoup(str(html), "html.parser").get_text(" "), limit)


# ------------------------------------------------------------------------------ licences

LICENCE_CODES = ("cc0", "pdm", "by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z0-9-]+)")
_CC_NAME = re.compile(r"\bcc[\s-]*(by(?:[\s-]+(?:nc|sa|nd))*)\b")


def licence_code(name: str, url: str = "") -> str:
    """'CC BY-SA 4.0' or its deed URL -> 'by-sa'; 'CC0' -> 'cc0'; public domain -> 'pdm'."""
    m = _CC_URL.search(url.lower())
    if m:
        kind, code = m.groups()
        if kind == "publicdomain":
            return "cc0" if code == "zero" else "pdm"
        if code in LICENCE_CODES:
            return code
    low = name.lower().strip()
    if low.startswith("cc0") or "cc-zero" in low:
        return "cc0"
    if "public domain" in low or low in ("pd", "pdm") or low.startswith("pd-"):
        return "pdm"
    m = _CC_NAME.search(low)
    if m:
        code = re.sub(r"[\s-]+", "-", m.group(1))
        return code if code in LICENCE_CODES else ""
    return low if low in LICENCE_CODES else ""


def licence_name(code: str, version: str = "") -> str:
    """'by-sa', '2.0' -> 'CC BY-SA 2.0'; 'cc0' -> 'CC0 1.0'; 'pdm' -> 'Public Domain Mark 1.0'."""
    code = code.lower()
    if code == "cc0":
        return f"CC0 {version or '1.0'}"
    if code == "pdm":
        return f"Public Domain Mark {version or '1.0'}"
    if code in LICENCE_CODES:
        return f"CC {code.upper()} {version}".strip()
    return code or UNKNOWN_LICENCE


def licence_allowed(candidate: Candidate, allowed: list[str]) -> bool:
    """With no `scrape.licences`, anything; else a recognised licence from the list."""
    if not allowed or candidate.licence_checked:
        return True
    return candidate.licence_code in allowed
