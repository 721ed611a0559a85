"""The gallery's routes (`routes`) and what their handlers share (`Gallery`).

`/` the page (`landslide.curate.page`), `/static/<name>` its CSS and JS, `/thumb/<sha256>`
and `/photo/<sha256>` a photo of the catalogue, `/api/decide` (POST) the decisions; what
each accepts and refuses is in `landslide.curate.app`.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from landslide.curate.catalogue import Catalogue, load_catalogue
from landslide.curate.page import counts, render_page
from landslide.curate.photos import Photo, thumbnail
from landslide.curate.store import (
    DECISIONS,
    LABELS,
    MAX_NOTE,
    SHA256,
    Change,
    CurationPaths,
    Decision,
    DecisionStore,
)
from landslide.errors import CurationError
from landslide.params import Params

MAX_BODY = 256 * 1024  # bytes of one POST
MAX_ITEMS = 1000  # photos in one POST (the page sends bulk decisions in chunks of 500)
TOKEN_HEADER = "x-curate-token"
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


def routes() -> list[Route]:
    """The gallery's routes, for a new app."""
    return [
        Route("/", _page),
        Route("/static/{name}", _static),
        Route("/favicon.ico", _no_icon),
        Route("/thumb/{sha}", _thumb),
        Route("/photo/{sha}", _photo),
        Route("/api/decide", _decide, methods=["POST"]),
    ]


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
