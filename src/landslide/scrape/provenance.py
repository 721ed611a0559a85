"""Which of the candidates that led to one photo the manifest credits.

The same photo often comes from several sources (the same URL, or the same bytes under
another URL): Openverse with a CC licence and an author, Bing with neither. The row keeps
the most informative provenance, chosen by `best_provenance` from all of them, so that
the choice does not depend on which download thread finished first, and lists every
source that returned the photo (`sources`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple

from landslide.scrape.base import Provenance


def best_provenance(
    candidates: Iterable[Provenance],
    *,
    sources: Sequence[str] = (),
    queries: Sequence[str] = (),
    keep: Provenance | None = None,
) -> Provenance:
    """The most informative of `candidates`, the same whatever their order.

    A stated licence beats a guessed one, which beats none; then more of author,
    attribution, licence_url and page_url filled beats fewer; then the source that comes
    first in `sources` (the configured order), the query first in `queries`, the image
    URL, and the other fields, as a last resort. `keep` (what an earlier run recorded)
    stays unless a candidate is more informative by the first two rules.
    """

    def key(p: Provenance) -> tuple[object, ...]:
        s_rank = sources.index(p.source) if p.source in sources else len(sources)
        q_rank = queries.index(p.query) if p.query in queries else len(queries)
        stated, filled = p.strength
        return (-stated, -filled, s_rank, q_rank, p.image_url, astuple(p))

    pool = list(candidates)
    if not pool:
        if keep is None:
            raise ValueError("best_provenance of no candidates")
        return keep
    best = min(pool, key=key)
    if keep is not None and best.strength <= keep.strength:
        return keep
    return best


def join_sources(names: Iterable[str]) -> str:
    """Source names as the manifest's `sources` column: sorted, unique, `;`-joined."""
    return ";".join(sorted({n.strip() for n in names if n.strip()}))


def split_sources(text: str) -> list[str]:
    return [n.strip() for n in text.split(";") if n.strip()]
