"""Collecting photos: search engines and open archives -> `data/raw/incoming/`.

    from landslide.scrape import scrape
    summary = scrape(Path("data/raw/incoming"), params.scrape, queries=["frana"])

Sources (`commons`, `openverse`, `bing`) share one interface (`base.Source.search ->
Candidate`); downloads are polite and hostile-proof (`download`); photos are kept once
(`dedup`: sha256 and perceptual hash) under content-addressed names, with provenance and
licence in `manifest.csv` (`manifest.read_manifest`).
"""

from landslide.scrape.base import Candidate, Source
from landslide.scrape.manifest import (
    MANIFEST,
    ManifestReport,
    ManifestRow,
    manifest_counts,
    manifest_report,
    read_manifest,
)
from landslide.scrape.stage import SOURCES, ScrapeCounts, ScrapeSummary, scrape

__all__ = [
    "MANIFEST",
    "SOURCES",
    "Candidate",
    "ManifestReport",
    "ManifestRow",
    "ScrapeCounts",
    "ScrapeSummary",
    "Source",
    "manifest_counts",
    "manifest_report",
    "read_manifest",
    "scrape",
]
