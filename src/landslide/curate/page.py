"""The gallery's one HTML page: the bar (progress, filters, actions, keys), the cards, the
viewer. Every text from the manifest or the decisions is HTML-escaped, links only when
http(s); the page has no inline code (its CSS and JS are `landslide/curate_static/`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from urllib.parse import urlsplit

from landslide.curate.catalogue import Catalogue
from landslide.curate.photos import Photo
from landslide.curate.store import LABELS, MAX_NOTE, CurationPaths, Decision

MAX_SHOWN = 300  # characters of a title, author, ... shown on a card
FILTERS = (("undecided", "undecided"), ("accepted", "accepted"), ("rejected", "rejected"))
KEYS_HELP = (
    ("←↑→↓", "move"),
    ("a", "accept"),
    ("r", "reject"),
    ("l", "landslide"),
    ("n", "non-landslide"),
    ("s", "unsure"),
    ("u", "undo"),
    ("space", "select"),
    ("g", "select duplicates"),
    ("enter", "open"),
    ("esc", "close / clear"),
)


def counts(catalogue: Catalogue, decisions: Mapping[str, Decision]) -> dict[str, int]:
    """Decisions and labels over the catalogue's photos (decisions of others ignored)."""
    out = dict.fromkeys(("total", "decided", "accepted", "rejected", "undecided", *LABELS), 0)
    for photo in catalogue.photos:
        d = decisions.get(photo.sha256)
        decision = d.decision if d else "undecided"
        out["total"] += 1
        out[decision] += 1
        out["decided"] += decision != "undecided"
        if d is not None and d.label:
            out[d.label] += 1
    return out


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _short(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _http(url: str) -> str:
    """The URL when it is http(s), else empty (no javascript: or data: links)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in ("http", "https") else ""


# ============================================================================ the page


def render_page(
    catalogue: Catalogue,
    decisions: Mapping[str, Decision],
    token: str,
    paths: CurationPaths,
) -> str:
    """The gallery page; every text from the manifest or the decisions is escaped."""
    cards = "\n".join(
        _card(photo, decisions.get(photo.sha256), catalogue, position)
        for position, photo in enumerate(catalogue.photos)
    )
    return (
        _head(token)
        + "<body>\n"
        + _bar(counts(catalogue, decisions), catalogue)
        + f'<main id="grid" class="grid">\n{cards}\n</main>\n'
        + f"{_empty(catalogue, paths)}\n"
        + _VIEWER
        + "</body>\n</html>\n"
    )


def _head(token: str) -> str:
    """The document's start and `<head>`: the session token, the CSS and JS."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="curate-token" content="{_e(token)}">
<title>landslide · curate photos</title>
<link rel="stylesheet" href="/static/curate.css">
<script src="/static/curate.js" defer></script>
</head>
"""


def _bar(c: Mapping[str, int], catalogue: Catalogue) -> str:
    """The header bar: progress, filters, actions, the keys."""
    keys = "".join(f"<li><kbd>{_e(k)}</kbd> {_e(what)}</li>" for k, what in KEYS_HELP)
    return f"""<header class="bar">
  <div class="row">
    <h1>Curate photos</h1>
{_progress(c)}
  </div>
  <div class="row">
{_filters(catalogue)}
{_ACTIONS}
  </div>
  <ul class="keys">{keys}</ul>
  <p id="message" class="message" role="status"></p>
</header>
"""


def _progress(c: Mapping[str, int]) -> str:
    """The counts: decided of total (a progress bar), accepted, rejected, labels."""
    percent = round(100 * c["decided"] / c["total"]) if c["total"] else 100
    return f"""    <div id="progress" class="progress" aria-live="polite">
      <progress id="progress-bar" max="{c["total"]}" value="{c["decided"]}">{percent}%</progress>
      <span><b id="count-decided">{c["decided"]}</b> of <b id="count-total">{c["total"]}</b>
      decided</span>
      <span class="accepted"><b id="count-accepted">{c["accepted"]}</b> accepted</span>
      <span class="rejected"><b id="count-rejected">{c["rejected"]}</b> rejected</span>
      <span><b id="count-undecided">{c["undecided"]}</b> undecided</span>
      <span class="labels"><b id="count-landslide">{c["landslide"]}</b> landslide ·
      <b id="count-non-landslide">{c["non-landslide"]}</b> non-landslide ·
      <b id="count-unsure">{c["unsure"]}</b> unsure</span>
    </div>"""


def _filters(catalogue: Catalogue) -> str:
    """The filter form: by decision, and by the catalogue's sources and licences."""
    options = {
        "source": "".join(
            f'<option value="{_e(v)}">{_e(_short(v))}</option>' for v in catalogue.values("source")
        ),
        "licence": "".join(
            f'<option value="{_e(v)}">{_e(_short(v))}</option>' for v in catalogue.values("licence")
        ),
    }
    decision_options = "".join(f'<option value="{v}">{label}</option>' for v, label in FILTERS)
    return f"""    <form id="filters" class="filters">
      <label>Show <select id="f-decision" name="decision">{decision_options}
        <option value="all">all</option></select></label>
      <label>Source <select id="f-source" name="source"><option value="">any</option>
        {options["source"]}</select></label>
      <label>Licence <select id="f-licence" name="licence"><option value="">any</option>
        {options["licence"]}</select></label>
      <span id="shown" class="shown"></span>
    </form>"""


_ACTIONS = """    <div class="actions" id="actions">
      <button type="button" data-action="accept" title="a">Accept</button>
      <button type="button" data-action="reject" title="r">Reject</button>
      <button type="button" data-action="landslide" title="l">Landslide</button>
      <button type="button" data-action="non-landslide" title="n">Non-landslide</button>
      <button type="button" data-action="unsure" title="s">Unsure</button>
      <button type="button" data-action="undo" title="u">Undo</button>
      <button type="button" data-action="select-visible">Select shown</button>
      <button type="button" data-action="clear">Clear</button>
      <span id="selection-count" class="selection">0 selected</span>
    </div>"""


def _empty(catalogue: Catalogue, paths: CurationPaths) -> str:
    """What an empty gallery says (nothing when there are photos)."""
    return (
        ""
        if catalogue.photos
        else f'<p class="empty">No photos: scrape into {_e(paths.manifest.parent)} or put '
        f"photos in {_e(paths.images_dir)}, then reload.</p>"
    )


_VIEWER = f"""\
<div id="viewer" class="viewer" hidden role="dialog" aria-modal="true" aria-label="photo">
  <figure>
    <img id="viewer-img" alt="">
    <figcaption>
      <p id="viewer-title" class="title"></p>
      <p id="viewer-info" class="info"></p>
      <p id="viewer-state" class="state"></p>
      <p class="links"><a id="viewer-page" rel="noopener noreferrer" target="_blank">page</a>
      <a id="viewer-licence" rel="noopener noreferrer" target="_blank">licence</a></p>
      <form id="viewer-note-form"><label>Note <input id="viewer-note" maxlength="{MAX_NOTE}"
        autocomplete="off"></label> <button type="submit">Save note</button></form>
    </figcaption>
  </figure>
  <button type="button" id="viewer-close" class="close" aria-label="close">×</button>
</div>
"""


def _card(photo: Photo, d: Decision | None, catalogue: Catalogue, position: int) -> str:
    decision = d.decision if d else "undecided"
    label = d.label if d else ""
    note = d.note if d else ""
    group = catalogue.groups.get(photo.sha256)
    dup = ""
    group_attr = ""
    if group is not None:
        size = catalogue.group_sizes[group]
        dup = f'<span class="dup g{group % 8}">near-duplicates · group {group + 1} of {size}</span>'
        group_attr = f' data-group="{group}"'
    info = " · ".join(
        f'<span class="{cls}">{_e(_short(value))}</span>'
        for cls, value in (
            ("source", photo.source),
            ("licence", photo.licence or "licence unknown"),
            ("author", photo.author or "author unknown"),
        )
    )
    title = _short(photo.title or photo.name)
    links = ""
    for attr, url in (("page-url", photo.page_url), ("licence-url", photo.licence_url)):
        safe = _http(url)
        if safe:
            links += f' data-{attr}="{_e(safe)}"'
    group_class = f" dup-g{group % 8}" if group is not None else ""
    return f"""<article class="card {decision}{group_class}" id="card-{photo.sha256}" tabindex="-1"
 data-sha="{photo.sha256}" data-decision="{decision}" data-label="{_e(label)}"
 data-note="{_e(note)}" data-source="{_e(photo.source)}" data-licence="{_e(photo.licence)}"
 data-name="{_e(photo.name)}" data-index="{position}"{group_attr}{links}>
  <label class="pick"><input type="checkbox" class="select" aria-label="select"></label>
  <button type="button" class="thumb" data-action="open" title="open the original">
    <img src="/thumb/{photo.sha256}" alt="{_e(title)}" loading="lazy" decoding="async">
  </button>
  <div class="meta">
    <p class="title">{_e(title)}</p>
    <p class="info">{info}</p>
    <p class="attribution">{_e(_short(photo.attribution))}</p>
    <p class="state"><span class="decision">{decision}</span>
      <span class="label">{_e(label)}</span> {dup}</p>
  </div>
  <div class="card-actions">
    <button type="button" class="accept" data-action="accept">accept</button>
    <button type="button" class="reject" data-action="reject">reject</button>
  </div>
</article>"""
