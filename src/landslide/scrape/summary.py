"""What a scrape run counts: `ScrapeCounts` for the progress bar, `ScrapeSummary` at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from landslide.scrape.manifest import MANIFEST


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
            plural(self.candidates, "candidate"),
            plural(self.downloaded, "new photo") + (f" ({by_source})" if by_source else ""),
            f"{plural(self.duplicates, 'duplicate')} ({self.exact_duplicates} exact, "
            f"{self.near_duplicates} near)",
            f"{sum(self.rejected.values())} rejected" + (f" ({reasons})" if reasons else ""),
            f"{self.known} already collected",
        ]
        if self.errors:
            parts.append(plural(len(self.errors), "source error"))
        return (
            f"scrape: {', '.join(parts)}; manifest {self.total} photos -> {self.out_dir} "
            f"({self.seconds:.1f} s)"
        )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
