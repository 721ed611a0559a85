"""Bing image search: result pages parsed with beautifulsoup4.

Each result is an `a.iusc` whose `m` attribute holds JSON: `murl` (the image), `purl`
(the page it is on), `turl` (a thumbnail) and `t` (a title). Pages of 35 (`first=`,
`count=`); robots.txt is honoured for the result pages as for the images.

Bing says nothing reliable about rights: without `scrape.licences` each result's
licence is `unknown`; with it, Bing's licence filter (`qft=+filterui:license-...`) is
asked for and the licence says which filter, unverified. Either way the user must check
the rights of each photo on its page before using it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from bs4 import BeautifulSoup

from landslide.scrape.base import UNKNOWN_LICENCE, UNVERIFIED, Candidate, Source, one_line
from landslide.scrape.download import Rejected

PAGE_MAX_BYTES = 5_000_000
PAGE = 35
MAX_PAGES = 30
PUBLIC_DOMAIN = {"cc0", "pdm"}


def licence_filter(licences: list[str]) -> tuple[str, str]:
    """Bing's `qft` filter for the licences asked for, and the licence it implies."""
    if not licences:
        return "", UNKNOWN_LICENCE
    asked = set(licences)
    if asked <= PUBLIC_DOMAIN:
        return "+filterui:license-L1", f"public domain (Bing filter, {UNVERIFIED})"
    if not any("nc" in c or "nd" in c for c in asked):
        return (
            "+filterui:license-L2_L3",
            f"free to modify, share and use commercially (Bing filter, {UNVERIFIED})",
        )
    return "+filterui:licenseType-Any", f"Creative Commons (Bing filter, {UNVERIFIED})"


class Bing(Source):
    name = "bing"

    def search(self, query: str, limit: int) -> Iterator[Candidate]:
        qft, licence = licence_filter(self.p.licences)
        seen: set[str] = set()
        first, produced = 1, 0
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"q": query, "first": first, "count": PAGE, "form": "HDRSC2"}
            if qft:
                params["qft"] = qft
            try:
                r = self.http.get(
                    self.p.bing_url,
                    params=params,
                    max_bytes=PAGE_MAX_BYTES,
                    accept="text/html,application/xhtml+xml",
                )
            except Rejected as exc:
                hint = (
                    "Bing's robots.txt disallows this page to scrape.user_agent; "
                    "use commons and openverse, or set scrape.robots: false at your own risk"
                    if exc.reason == "robots.txt"
                    else None
                )
                raise self.unreachable(query, exc, hint=hint) from None
            anchors = BeautifulSoup(r.text, "html.parser").select("a.iusc")
            if not anchors:
                if first == 1:
                    raise self.error(
                        query,
                        "the result page has no image results (no a.iusc elements)",
                        hint="no results for this query, or Bing's page layout changed, or "
                        "it served a consent or captcha page; try commons and openverse",
                    )
                return
            new = bad = 0
            for anchor in anchors:
                meta = _meta(anchor.get("m"))
                if meta is None:
                    bad += 1
                    continue
                url = meta["murl"]
                if url in seen:
                    continue
                seen.add(url)
                new += 1
                yield Candidate(
                    source=self.name,
                    query=query,
                    image_url=url,
                    page_url=meta.get("purl") or "",
                    title=one_line(meta.get("t") or meta.get("desc")),
                    licence=licence,
                    attribution="found with Bing image search; rights not verified",
                    licence_checked=bool(qft),
                )
                produced += 1
                if produced >= limit:
                    return
            if bad == len(anchors):
                raise self.error(
                    query,
                    f"none of the {bad} results has an `m` attribute with JSON holding `murl`",
                    hint="Bing's page layout may have changed",
                )
            if not new:
                return  # Bing repeats its last page when the results run out
            first += len(anchors)


def _meta(raw: object) -> dict[str, str] | None:
    """The `m` attribute's JSON, with string `murl`/`purl`/`turl`/`t`; None if unusable."""
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("murl"), str) or not data["murl"]:
        return None
    return {k: v for k, v in data.items() if isinstance(v, str)}
