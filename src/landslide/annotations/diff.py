"""How much an annotator changed a pre-filled project: polygon IoU and vertex edits per photo.

    report = diff_files(Path("via_project.json"), Path("prefill.json"), params)
    report.summary_line()     # mean IoU, vertex edits against drawing from scratch
    write_csv(out, report.rows(), DIFF_COLUMNS)

`HUMAN` is what the annotator saved (or any ground truth: a VIA file of any version or
COCO), `PREFILL` what `landslide annotations prefill` wrote; both in the same pixels (the
photos' own, upright). Photos are matched by file name (or, failing that, by name without
its suffix, so a prepared `a.jpg` finds `a.png`). In PREFILL the regions marked
`source: model` are the model's; a file with no such mark is taken as all model. Regions
PREFILL kept from an earlier project (not the model's) that HUMAN still has unchanged are
left out of the comparison: nobody drew them in this round.

Per photo:

- `iou`: IoU of the union of the model's polygons with the union of the human ones (empty
  when both are empty);
- regions are paired greedily by IoU (highest first, at least `match_iou`); `matched_iou`
  is the mean IoU of the pairs, `relabelled` the pairs whose class changed;
- vertices of a pair: a human vertex within `tolerance` pixels of a model vertex (one to
  one, nearest first) was kept; of the rest, as many as both sides have were moved, the
  human's surplus added, the model's surplus removed. A human region with no pair was
  drawn from scratch (its vertices added); a model region with no pair was deleted, one
  action whatever its vertices (`regions_deleted`);
- `edits` = moved + added + removed + regions deleted, the proxy for the annotator's
  effort; against `human_vertices`, the vertices of the human polygons, the effort of
  drawing them all from scratch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from landslide.annotations.geometry import iou, shape_of
from landslide.annotations.model import Annotations, ImageAnn, Region

if TYPE_CHECKING:
    from landslide.params import Params

DIFF_COLUMNS = (
    "image",
    "model_regions",
    "human_regions",
    "matched",
    "relabelled",
    "iou",
    "matched_iou",
    "vertices_kept",
    "vertices_moved",
    "vertices_added",
    "vertices_removed",
    "regions_added",
    "regions_deleted",
    "edits",
    "human_vertices",
)
MATCH_IOU = 0.1
TOLERANCE = 1.0  # pixels


@dataclass
class ImageDiff:
    """One photo: the model's regions against the human's."""

    image: str
    model_regions: int = 0
    human_regions: int = 0
    matched: int = 0
    relabelled: int = 0
    iou: float | None = None  # union of model polygons vs union of human polygons
    pair_ious: list[float] = field(default_factory=list)
    kept: int = 0
    moved: int = 0
    added: int = 0
    removed: int = 0
    regions_added: int = 0  # human regions with no model counterpart
    regions_deleted: int = 0  # model regions with no human counterpart
    human_vertices: int = 0

    @property
    def matched_iou(self) -> float | None:
        return sum(self.pair_ious) / len(self.pair_ious) if self.pair_ious else None

    @property
    def edits(self) -> int:
        return self.moved + self.added + self.removed + self.regions_deleted

    def row(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "model_regions": self.model_regions,
            "human_regions": self.human_regions,
            "matched": self.matched,
            "relabelled": self.relabelled,
            "iou": _round(self.iou),
            "matched_iou": _round(self.matched_iou),
            "vertices_kept": self.kept,
            "vertices_moved": self.moved,
            "vertices_added": self.added,
            "vertices_removed": self.removed,
            "regions_added": self.regions_added,
            "regions_deleted": self.regions_deleted,
            "edits": self.edits,
            "human_vertices": self.human_vertices,
        }


@dataclass
class DiffReport:
    """Every photo's `ImageDiff`, and the photos that could not be compared."""

    human: str
    prefill: str
    images: list[ImageDiff] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # human photos not in the prefill
    marked: bool = True  # model regions told apart by `source: model` (else all)
    out: Path | None = None

    @property
    def mean_iou(self) -> float | None:
        """Mean per-photo IoU over the photos with a region on either side."""
        values = [d.iou for d in self.images if d.iou is not None]
        return sum(values) / len(values) if values else None

    @property
    def matched_iou(self) -> float | None:
        """Mean IoU of all region pairs."""
        values = [v for d in self.images for v in d.pair_ious]
        return sum(values) / len(values) if values else None

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.images)

    @property
    def saving(self) -> float | None:
        """1 - edits / vertices drawn from scratch (None when the human drew nothing)."""
        scratch = self.total("human_vertices")
        return 1.0 - self.total("edits") / scratch if scratch else None

    def rows(self) -> list[dict[str, Any]]:
        return [d.row() for d in self.images]

    def write_csv(self, path: Path) -> None:
        """One row per photo (DIFF_COLUMNS), written atomically; the summary names it."""
        from landslide.io import write_csv

        write_csv(path, self.rows(), DIFF_COLUMNS)
        self.out = path

    def summary_line(self) -> str:
        target = f" -> {self.out}" if self.out is not None else ""
        missing = f", {len(self.missing)} not in the prefill" if self.missing else ""
        saving = ""
        if self.saving is not None:
            saving = (
                f" (saves {self.saving:.0%})"
                if self.saving >= 0
                else f" ({-self.saving:.0%} more than drawing)"
            )
        return (
            f"diff: {_plural(len(self.images), 'photo')}{missing}, "
            f"mean IoU {_text(self.mean_iou)}; {_plural(self.total('matched'), 'region pair')}, "
            f"mean IoU {_text(self.matched_iou)}; {self.total('edits')} vertex edits against "
            f"{self.total('human_vertices')} drawn from scratch{saving}{target}"
        )


# --------------------------------------------------------------------------- entry points


def diff_files(
    human: Path,
    prefill: Path,
    params: Params,
    *,
    only: Path | None = None,
    classes: Sequence[str] | None = None,
    match_iou: float = MATCH_IOU,
    tolerance: float = TOLERANCE,
) -> DiffReport:
    """Read two annotation files (any VIA version or COCO; regions as written) and diff them.

    `only`: an annotation file (e.g. a split's `test.json`) whose photos alone are compared;
    `classes`: the classes compared (default all).
    """
    from landslide.annotations.stage import load_annotations

    a = load_annotations(human, None, params, review=False)
    b = load_annotations(prefill, None, params, review=False)
    names = None
    if only is not None:
        names = [im.file_name for im in load_annotations(only, None, params, review=False).images]
    report = diff_annotations(
        a, b, only=names, classes=classes, match_iou=match_iou, tolerance=tolerance
    )
    report.human, report.prefill = str(human), str(prefill)
    return report


def diff_annotations(
    human: Annotations,
    prefill: Annotations,
    *,
    only: Iterable[str] | None = None,
    classes: Sequence[str] | None = None,
    match_iou: float = MATCH_IOU,
    tolerance: float = TOLERANCE,
) -> DiffReport:
    """Compare every photo of `human` (those named in `only`, when given) with `prefill`.

    `only` names photos as any annotation file does (folder and suffix ignored); with
    `classes`, only regions of those classes are compared (on both sides).
    """
    marked = any(r.unreviewed for im in prefill.images for r in im.regions)
    report = DiffReport(human.source, prefill.source, marked=marked)
    wanted = None if only is None else {_base(n) for n in only}
    exact = {im.file_name: im for im in prefill.images}
    by_stem: dict[str, list[ImageAnn]] = {}
    for im in prefill.images:
        by_stem.setdefault(_stem(im.file_name), []).append(im)
    for image in human.images:
        if wanted is not None and _base(image.file_name) not in wanted:
            continue
        other = exact.get(image.file_name)
        if other is None:
            candidates = by_stem.get(_stem(image.file_name), [])
            other = candidates[0] if len(candidates) == 1 else None
        if other is None:
            report.missing.append(image.file_name)
            continue
        if marked:
            model = [r for r in other.regions if r.unreviewed]
            prior = [r for r in other.regions if not r.unreviewed]
        else:
            model, prior = list(other.regions), []
        drawn = _without(list(image.regions), prior, tolerance)
        if classes is not None:
            drawn = [r for r in drawn if r.label in classes]
            model = [r for r in model if r.label in classes]
        report.images.append(diff_image(image.file_name, drawn, model, match_iou, tolerance))
    return report


def diff_image(
    name: str,
    human: Sequence[Region],
    model: Sequence[Region],
    match_iou: float = MATCH_IOU,
    tolerance: float = TOLERANCE,
) -> ImageDiff:
    """One photo's comparison (see the module docstring)."""
    from shapely import unary_union

    out = ImageDiff(name, model_regions=len(model), human_regions=len(human))
    out.human_vertices = sum(len(r.polygon) for r in human)
    hs = [shape_of(r.polygon) for r in human]
    ms = [shape_of(r.polygon) for r in model]
    h_all = [g for g in hs if g is not None]
    m_all = [g for g in ms if g is not None]
    if h_all or m_all:
        out.iou = iou(unary_union(h_all), unary_union(m_all)) if h_all and m_all else 0.0
    candidates = []
    for i, h in enumerate(hs):
        for j, m in enumerate(ms):
            if h is not None and m is not None:
                value = iou(h, m)
                if value >= match_iou and value > 0:
                    candidates.append((value, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_h: set[int] = set()
    used_m: set[int] = set()
    for value, i, j in candidates:
        if i in used_h or j in used_m:
            continue
        used_h.add(i)
        used_m.add(j)
        out.matched += 1
        out.pair_ious.append(value)
        out.relabelled += human[i].label != model[j].label
        kept, moved, added, removed = vertex_edits(model[j].polygon, human[i].polygon, tolerance)
        out.kept += kept
        out.moved += moved
        out.added += added
        out.removed += removed
    for i, region in enumerate(human):
        if i not in used_h:
            out.regions_added += 1
            out.added += len(region.polygon)
    out.regions_deleted = len(model) - len(used_m)
    return out


def vertex_edits(
    before: Sequence[tuple[float, float]],
    after: Sequence[tuple[float, float]],
    tolerance: float = TOLERANCE,
) -> tuple[int, int, int, int]:
    """(kept, moved, added, removed) vertices from the polygon `before` to `after`.

    A vertex of `after` within `tolerance` of one of `before` (one to one, nearest pairs
    first) was kept; of the others, as many as both sides have were moved.
    """
    pairs = []
    for i, (x0, y0) in enumerate(before):
        for j, (x1, y1) in enumerate(after):
            d = math.hypot(x1 - x0, y1 - y0)
            if d <= tolerance:
                pairs.append((d, i, j))
    pairs.sort()
    used_b: set[int] = set()
    used_a: set[int] = set()
    for _, i, j in pairs:
        if i not in used_b and j not in used_a:
            used_b.add(i)
            used_a.add(j)
    kept = len(used_b)
    gone, new = len(before) - kept, len(after) - kept
    moved = min(gone, new)
    return kept, moved, new - moved, gone - moved


def _without(human: list[Region], prior: Sequence[Region], tolerance: float) -> list[Region]:
    """`human` less the regions equal (class, every vertex within tolerance) to one of `prior`."""
    for region in prior:
        for k, h in enumerate(human):
            if h.label == region.label and _same(h.polygon, region.polygon, tolerance):
                del human[k]
                break
    return human


def _same(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]], tol: float) -> bool:
    if len(a) != len(b):
        return False
    kept, *_ = vertex_edits(a, b, tol)
    return kept == len(a)


def _stem(name: str) -> str:
    return PurePosixPath(name).with_suffix("").as_posix().casefold()


def _base(name: str) -> str:
    """The file name without folder and suffix: how `only` names a photo."""
    return PurePosixPath(name).stem.casefold()


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


__all__ = [
    "DIFF_COLUMNS",
    "DiffReport",
    "ImageDiff",
    "diff_annotations",
    "diff_files",
    "diff_image",
    "vertex_edits",
]
