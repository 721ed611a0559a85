"""Wikimedia Commons: search in the File namespace, or the files of a category.

One API call per page of 50 (`generator=search` with `gsrnamespace=6`, or
`generator=categorymembers` with `gcmtype=file` for a query like `Category:Landslides`),
with `prop=imageinfo` and `iiprop=url|size|mime|extmetadata` so licence, author and
attribution come with each result (`query.pages[].imageinfo[].extmetadata`, formatversion
2; the classic formatversion 1 that older mirrors answer, `query.pages` an object keyed
by page id, is read too). Calls are sequential and send `maxlag=5` as the API etiquette
asks; a lagged server's answer is waited out (`Retry-After`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from landslide.scrape.base import (
    CATEGORY_PREFIX,
    UNKNOWN_LICENCE,
    Candidate,
    Source,
    html_text,
    one_line,
    take,
)
from landslide.scrape.download import Rejected

API_MAX_BYTES = 20_000_000
PAGE = 50  # the API's limit for extmetadata
MIMES = {"image/jpeg", "image/png", "image/webp", "image/tiff", "image/gif"}
EXTMETADATA = (
    "ObjectName|ImageDescription|Artist|Credit|Attribution|LicenseShortName|LicenseUrl|UsageTerms"
)


class Commons(Source):
    name = "commons"

    @classmethod
    def accepts(cls, query: str) -> bool:
        return True  # searches and categories

    def search(self, query: str, limit: int) -> Iterator[Candidate]:
        params: dict[str, Any] = {
            "action": "query",
            "format": "json",
            "formatversion": "2",
            "maxlag": "5",
            "prop": "imageinfo",
            "iiprop": "url|size|mime|extmetadata",
            "iiextmetadatafilter": EXTMETADATA,
        }
        if query.startswith(CATEGORY_PREFIX):
            params |= {
                "generator": "categorymembers",
                "gcmtitle": query,
                "gcmtype": "file",
                "gcmlimit": PAGE,
            }
        else:
            params |= {
                "generator": "search",
                "gsrsearch": query,
                "gsrnamespace": "6",
                "gsrlimit": PAGE,
            }
        if self.p.commons_width:
            params["iiurlwidth"] = self.p.commons_width
        yield from take(self._pages(query, params), limit)

    def _pages(self, query: str, params: dict[str, Any]) -> Iterator[list[Candidate | None]]:
        """Each answer's results, in search order, following `continue`."""
        cont: dict[str, Any] = {}
        while True:
            data = self._call(query, params | cont)
            with self.reading(
                query, hint="the Commons API may have changed; check scrape.commons_url"
            ):
                pages = in_order(data.get("query", {}).get("pages", []))
                found = [self._candidate(query, page) for page in pages]
                cont = data.get("continue") or {}
                if not isinstance(cont, dict):
                    raise TypeError("continue is not an object")
            yield found
            if not cont:
                return

    def _call(self, query: str, params: dict[str, Any]) -> dict[str, Any]:
        for _ in range(self.p.retries + 1):
            try:
                r = self.api_get(self.p.commons_url, params, API_MAX_BYTES)
            except Rejected as exc:
                raise self.unreachable(query, exc) from None
            data = self.json_object(
                query,
                r.body,
                hint=f"is scrape.commons_url ({self.p.commons_url}) the MediaWiki API?",
            )
            error = data.get("error")
            if not error:
                return data
            code = error.get("code") if isinstance(error, dict) else None
            if code != "maxlag":
                info = error.get("info", "") if isinstance(error, dict) else error
                raise self.error(query, f"API error {code}: {one_line(info, 300)}")
            time.sleep(min(float(r.headers.get("retry-after", "5") or 5), 60.0))
        raise self.error(query, "the API stayed lagged (maxlag); try again later")

    def _candidate(self, query: str, page: dict[str, Any]) -> Candidate | None:
        infos = page.get("imageinfo") or []
        if not infos:
            return None  # a missing or deleted file
        info = infos[0]
        if info.get("mime") not in MIMES:
            return None  # SVG, PDF, DjVu, video, audio
        meta = info.get("extmetadata") or {}

        def field(key: str) -> str:
            value = meta.get(key)
            return str(value.get("value", "")) if isinstance(value, dict) else ""

        url = info.get("url")
        width, height = info.get("width"), info.get("height")
        if self.p.commons_width and info.get("thumburl"):
            url, width, height = info["thumburl"], info.get("thumbwidth"), info.get("thumbheight")
        if not isinstance(url, str) or not url:
            return None
        page_title = str(page.get("title", ""))
        title = html_text(field("ObjectName")) or _file_title(page_title)
        author = html_text(field("Artist")) or html_text(field("Credit"))
        licence = html_text(field("LicenseShortName")) or UNKNOWN_LICENCE
        licence_url = one_line(field("LicenseUrl"))
        attribution = html_text(field("Attribution")) or ", ".join(
            part
            for part in (
                title,
                f"by {author}" if author else "",
                licence if licence != UNKNOWN_LICENCE else "",
                "via Wikimedia Commons",
            )
            if part
        )
        return Candidate(
            source=self.name,
            query=query,
            image_url=url,
            page_url=str(info.get("descriptionurl") or ""),
            title=title,
            licence=licence,
            licence_url=licence_url,
            author=author,
            attribution=attribution,
            width=width if isinstance(width, int) else None,
            height=height if isinstance(height, int) else None,
        )


def in_order(pages: object) -> list[Any]:
    """`query.pages` in search order. formatversion 2 answers a list, sorted by `index`
    (the rank in a search); the classic formatversion 1 an object keyed by page id, in
    no particular order: by `index` where pages have one, else by page id (a missing
    file's is negative). TypeError for anything else."""
    if isinstance(pages, list):
        return sorted(pages, key=lambda page: page.get("index", 0))
    if not isinstance(pages, dict):
        raise TypeError(f"query.pages is a {type(pages).__name__}, not a list or an object")

    def key(item: tuple[str, Any]) -> tuple[int, int]:
        page_id, page = item
        index = page.get("index")
        if isinstance(index, int):
            return 0, index
        return 1, int(page.get("pageid", page_id))

    return [page for _, page in sorted(pages.items(), key=key)]


def _file_title(page_title: str) -> str:
    """'File:Landslide in Nepal.jpg' -> 'Landslide in Nepal'."""
    name = page_title.split(":", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return one_line(stem if dot and len(ext) <= 5 else name)
