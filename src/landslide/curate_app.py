"""The curation gallery: a small Starlette app to accept, reject and label photos.

    landslide curate serve                     # http://127.0.0.1:8765/
    app = create_app(params, root=Path("."))   # any ASGI server; tests use uvicorn

One page shows the catalogue (`landslide.curate.load_catalogue`) as a grid of
thumbnails with source, licence and author, near-duplicates side by side; the keyboard
does the work (arrows move, `a` accept, `r` reject, `l` landslide, `n` non-landslide,
`u` undo, space selects, `g` selects a near-duplicate group). Decisions are POSTed to
`/api/decide` and land in `decisions.csv` through `DecisionStore`.

What it serves and accepts, and nothing else:

- `/` the page: every text from the manifest (titles, authors come from the internet)
  is HTML-escaped, links only when http(s); a strict Content-Security-Policy allows
  scripts and styles from this origin only (no inline code, no CDN: the CSS and JS are
  package data, `landslide/curate_static/`);
- `/thumb/<sha256>` and `/photo/<sha256>`: a photo of the catalogue, looked up by its
  sha256, never by a path from the request;
- `/api/decide` (POST, JSON, at most `MAX_BODY` bytes and `MAX_ITEMS` photos): needs the
  per-session token of the page (`X-Curate-Token`) and a same-origin `Origin` (or
  `Referer`); anything else is refused with 403;
- every request must name an allowed host (`Host` header: loopback names, or the host the
  server was bound to), which keeps DNS-rebinding pages out.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from landslide.curate import (
    DECISIONS,
    LABELS,
    MAX_NOTE,
    SHA256,
    Catalogue,
    Change,
    CurationPaths,
    Decision,
    DecisionStore,
    Photo,
    default_curator,
    load_catalogue,
    thumbnail,
)
from landslide.errors import CurationError
from landslide.params import Params

MAX_BODY = 256 * 1024  # bytes of one POST
MAX_ITEMS = 1000  # photos in one POST (the page sends bulk decisions in chunks of 500)
MAX_SHOWN = 300  # characters of a title, author, ... shown on a card
TOKEN_HEADER = "x-curate-token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ANY_HOST = frozenset({"0.0.0.0", "::", ""})
STATIC = {"curate.css": "text/css; charset=utf-8", "curate.js": "text/javascript; charset=utf-8"}
PHOTO_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
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


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK


def allowed_hosts(bind_host: str) -> frozenset[str] | None:
    """Host names a request may name: loopback, plus the bound host; None = any (0.0.0.0)."""
    host = bind_host.strip("[]").lower()
    if host in ANY_HOST:
        return None
    return LOOPBACK | {host}


# ============================================================================ state


@dataclass
class Gallery:
    """What the handlers share: paths, params, the store, the token, the catalogue."""

    paths: CurationPaths
    params: Params
    store: DecisionStore
    token: str
    _catalogue: Catalogue | None = None
    _signature: tuple[Any, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def catalogue(self) -> Catalogue:
        """The catalogue, rebuilt when the manifest or the curated set changes."""
        with self._lock:
            signature = self._current_signature()
            if self._catalogue is None or signature != self._signature:
                self._catalogue = load_catalogue(self.paths, self.params.scrape.dup_distance)
                self._signature = signature
            return self._catalogue

    def _current_signature(self) -> tuple[Any, ...]:
        out: list[Any] = []
        for path in (self.paths.manifest, self.paths.provenance, self.paths.images_dir):
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)


def create_app(
    params: Params,
    root: Path = Path("."),
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    who: str | None = None,
) -> Starlette:
    """The gallery for the project at `root`; `host` is the address the server binds."""
    paths = CurationPaths.from_params(params, root)
    gallery = Gallery(
        paths=paths,
        params=params,
        store=DecisionStore(paths.decisions, who or default_curator(params.curate)),
        token=token or secrets.token_urlsafe(32),
    )
    assets = {
        name: (resources.files("landslide") / "curate_static" / name).read_bytes()
        for name in STATIC
    }
    app = Starlette(
        routes=[
            Route("/", _page),
            Route("/static/{name}", _static),
            Route("/favicon.ico", _no_icon),
            Route("/thumb/{sha}", _thumb),
            Route("/photo/{sha}", _photo),
            Route("/api/decide", _decide, methods=["POST"]),
        ],
        middleware=[Middleware(Guard, allowed=allowed_hosts(host))],
    )
    app.state.gallery = gallery
    app.state.assets = assets
    return app


class Guard:
    """Refuses requests naming an unknown host; adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _hostname(Headers(scope=scope).get("host", ""))
        if self.allowed is not None and host not in self.allowed:
            refuse = PlainTextResponse("unknown host", status_code=400, headers=SECURITY_HEADERS)
            await refuse(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers[key] = value
            await send(message)

        await self.app(scope, receive, send_secure)


def _hostname(host_header: str) -> str:
    """The host name of a Host header value (`[::1]:8765` -> `::1`), lowercase."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _gallery(request: Request) -> Gallery:
    return request.app.state.gallery  # type: ignore[no-any-return]


# ============================================================================ GET


def _page(request: Request) -> Response:
    gallery = _gallery(request)
    try:
        catalogue = gallery.catalogue()
        decisions = gallery.store.read()
    except CurationError as exc:
        return PlainTextResponse(f"error: {exc.render()}", status_code=500)
    body = render_page(catalogue, decisions, gallery.token, gallery.paths)
    return Response(
        body, media_type="text/html; charset=utf-8", headers={"cache-control": "no-store"}
    )


def _static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return PlainTextResponse("not found", status_code=404)
    return Response(request.app.state.assets[name], media_type=STATIC[name])


def _no_icon(request: Request) -> Response:
    return Response(status_code=204)


def _lookup(request: Request) -> Photo | None:
    sha = str(request.path_params["sha"]).lower()
    if not SHA256.match(sha):
        return None
    try:
        return _gallery(request).catalogue().get(sha)
    except CurationError:  # the manifest turned bad while serving: the page says why
        return None


def _thumb(request: Request) -> Response:
    gallery = _gallery(request)
    photo = _lookup(request)
    if photo is None:
        return PlainTextResponse("not found", status_code=404)
    try:
        path = thumbnail(
            photo,
            gallery.params.curate.thumbnail_size,
            gallery.paths.cache_dir,
            gallery.params.annotations.max_image_pixels,
        )
    except CurationError as exc:
        return PlainTextResponse(exc.message, status_code=422)
    return FileResponse(
        path, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"}
    )


def _photo(request: Request) -> Response:
    photo = _lookup(request)
    if photo is None or not photo.path.is_file():
        return PlainTextResponse("not found", status_code=404)
    media = PHOTO_TYPES.get(photo.path.suffix.lower(), "application/octet-stream")
    return FileResponse(
        photo.path,
        media_type=media,
        content_disposition_type="inline",
        headers={"cache-control": "private, max-age=3600"},
    )


# ============================================================================ POST


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def same_origin(request: Request) -> bool:
    """The request comes from a page of this server: Origin (else Referer) is our origin."""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    expected = f"{request.url.scheme}://{headers.get('host', '')}".lower()
    origin = headers.get("origin")
    if origin is None:
        referer = headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower() == expected


async def _decide(request: Request) -> Response:
    gallery = _gallery(request)
    if not same_origin(request):
        return _error(403, "cross-origin request refused")
    sent = request.headers.get(TOKEN_HEADER, "")
    if not sent or not secrets.compare_digest(sent.encode(), gallery.token.encode()):
        return _error(403, "missing or wrong session token (reload the page)")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "expected application/json")
    body = await _read_limited(request, MAX_BODY)
    if body is None:
        return _error(413, f"request larger than {MAX_BODY} bytes")
    try:
        catalogue = await run_in_threadpool(gallery.catalogue)
    except CurationError as exc:
        return _error(500, exc.render())
    try:
        changes = parse_changes(json.loads(body), catalogue)
    except (ValueError, CurationError) as exc:
        return _error(400, str(exc))
    try:
        await run_in_threadpool(gallery.store.update, changes)
        decisions = await run_in_threadpool(gallery.store.read)
    except CurationError as exc:
        return _error(503, exc.render())
    return JSONResponse(
        {
            "photos": [_decision_json(decisions.get(c.sha256), c.sha256) for c in changes],
            "counts": counts(catalogue, decisions),
        }
    )


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_changes(data: Any, catalogue: Catalogue) -> list[Change]:
    """`{"items": [{"sha256", "decision"?, "label"?, "note"?}, ...]}` -> changes.

    Raises ValueError naming the first bad item: unknown keys, values or photos.
    """
    if not isinstance(data, dict) or set(data) != {"items"} or not isinstance(data["items"], list):
        raise ValueError('expected {"items": [...]}')
    items = data["items"]
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValueError(f"expected 1 to {MAX_ITEMS} items, got {len(items)}")
    changes = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not set(item) <= {"sha256", "decision", "label", "note"}:
            raise ValueError(f"item {i}: expected sha256, decision, label, note")
        sha = item.get("sha256")
        photo = catalogue.get(sha) if isinstance(sha, str) else None
        if photo is None:
            raise ValueError(f"item {i}: unknown photo")
        decision, label, note = item.get("decision"), item.get("label"), item.get("note")
        if decision is not None and decision not in DECISIONS:
            raise ValueError(f"item {i}: decision must be one of {', '.join(DECISIONS)}")
        if label is not None and label not in ("", *LABELS):
            raise ValueError(f"item {i}: label must be one of {', '.join(LABELS)} or empty")
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
            raise ValueError(f"item {i}: note must be text of at most {MAX_NOTE} characters")
        changes.append(Change(photo.sha256, photo.name, decision, label, note))
    return changes


def _decision_json(d: Decision | None, sha: str) -> dict[str, str]:
    if d is None:
        return {"sha256": sha, "decision": "undecided", "label": "", "note": ""}
    return {"sha256": sha, "decision": d.decision, "label": d.label, "note": d.note}


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


# ============================================================================ the page


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


def render_page(
    catalogue: Catalogue,
    decisions: Mapping[str, Decision],
    token: str,
    paths: CurationPaths,
) -> str:
    """The gallery page; every text from the manifest or the decisions is escaped."""
    c = counts(catalogue, decisions)
    cards = "\n".join(
        _card(photo, decisions.get(photo.sha256), catalogue, position)
        for position, photo in enumerate(catalogue.photos)
    )
    options = {
        "source": "".join(
            f'<option value="{_e(v)}">{_e(_short(v))}</option>' for v in catalogue.values("source")
        ),
        "licence": "".join(
            f'<option value="{_e(v)}">{_e(_short(v))}</option>' for v in catalogue.values("licence")
        ),
    }
    decision_options = "".join(f'<option value="{v}">{label}</option>' for v, label in FILTERS)
    keys = "".join(f"<li><kbd>{_e(k)}</kbd> {_e(what)}</li>" for k, what in KEYS_HELP)
    percent = round(100 * c["decided"] / c["total"]) if c["total"] else 100
    empty = (
        ""
        if catalogue.photos
        else f'<p class="empty">No photos: scrape into {_e(paths.manifest.parent)} or put '
        f"photos in {_e(paths.images_dir)}, then reload.</p>"
    )
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
<body>
<header class="bar">
  <div class="row">
    <h1>Curate photos</h1>
    <div id="progress" class="progress" aria-live="polite">
      <progress id="progress-bar" max="{c["total"]}" value="{c["decided"]}">{percent}%</progress>
      <span><b id="count-decided">{c["decided"]}</b> of <b id="count-total">{c["total"]}</b>
      decided</span>
      <span class="accepted"><b id="count-accepted">{c["accepted"]}</b> accepted</span>
      <span class="rejected"><b id="count-rejected">{c["rejected"]}</b> rejected</span>
      <span><b id="count-undecided">{c["undecided"]}</b> undecided</span>
      <span class="labels"><b id="count-landslide">{c["landslide"]}</b> landslide ·
      <b id="count-non-landslide">{c["non-landslide"]}</b> non-landslide ·
      <b id="count-unsure">{c["unsure"]}</b> unsure</span>
    </div>
  </div>
  <div class="row">
    <form id="filters" class="filters">
      <label>Show <select id="f-decision" name="decision">{decision_options}
        <option value="all">all</option></select></label>
      <label>Source <select id="f-source" name="source"><option value="">any</option>
        {options["source"]}</select></label>
      <label>Licence <select id="f-licence" name="licence"><option value="">any</option>
        {options["licence"]}</select></label>
      <span id="shown" class="shown"></span>
    </form>
    <div class="actions" id="actions">
      <button type="button" data-action="accept" title="a">Accept</button>
      <button type="button" data-action="reject" title="r">Reject</button>
      <button type="button" data-action="landslide" title="l">Landslide</button>
      <button type="button" data-action="non-landslide" title="n">Non-landslide</button>
      <button type="button" data-action="unsure" title="s">Unsure</button>
      <button type="button" data-action="undo" title="u">Undo</button>
      <button type="button" data-action="select-visible">Select shown</button>
      <button type="button" data-action="clear">Clear</button>
      <span id="selection-count" class="selection">0 selected</span>
    </div>
  </div>
  <ul class="keys">{keys}</ul>
  <p id="message" class="message" role="status"></p>
</header>
<main id="grid" class="grid">
{cards}
</main>
{empty}
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
</body>
</html>
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


# ============================================================================ serve


def serve(
    params: Params,
    root: Path = Path("."),
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    on_ready: Callable[[str, Catalogue], None] | None = None,
) -> None:
    """Serve the gallery until interrupted; `on_ready(url, catalogue)` once it listens."""
    import socket

    import uvicorn

    app = create_app(params, root, host=host)
    catalogue = app.state.gallery.catalogue()  # a bad manifest fails here, before binding
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    try:
        sock = socket.create_server((bare, port), family=family)
    except OSError as exc:
        raise CurationError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (0 = any free port)",
        ) from None
    bound = sock.getsockname()[1]
    shown = "127.0.0.1" if bare in ANY_HOST else bare
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{bound}/"
    if on_ready is not None:
        on_ready(url, catalogue)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
