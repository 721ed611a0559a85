"""The curation gallery: a small Starlette app to accept, reject and label photos.

    landslide curate serve                     # http://127.0.0.1:8765/
    app = create_app(params, root=Path("."))   # any ASGI server; tests use uvicorn

One page shows the catalogue (`landslide.curate.catalogue.load_catalogue`) as a grid of
thumbnails with source, licence and author, near-duplicates side by side; the keyboard
does the work (arrows move, `a` accept, `r` reject, `l` landslide, `n` non-landslide,
`u` undo, space selects, `g` selects a near-duplicate group). Decisions are POSTed to
`/api/decide` and land in `decisions.csv` through `DecisionStore`.
This module builds the app (`create_app`), guards it (`Guard`) and serves it (`serve`);
the handlers are in `landslide.curate.routes`, the HTML in `landslide.curate.page`.

What it serves and accepts, and nothing else:

- `/` the page: every text from the manifest (titles, authors come from the internet)
  is HTML-escaped, links only when http(s); a strict Content-Security-Policy allows
  scripts and styles from this origin only (no inline code, no CDN: the CSS and JS are
  package data, `landslide/curate_static/`);
- `/thumb/<sha256>` and `/photo/<sha256>`: a photo of the catalogue, looked up by its
  sha256, never by a path from the request;
- `/api/decide` (POST, JSON, at most `MAX_BODY` bytes and `MAX_ITEMS` photos, see
  `landslide.curate.routes`): needs the per-session token of the page (`X-Curate-Token`)
  and a same-origin `Origin` (or `Referer`); anything else is refused with 403;
- every request must name an allowed host (`Host` header: loopback names, or the host the
  server was bound to), which keeps DNS-rebinding pages out.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from landslide.curate.catalogue import Catalogue
from landslide.curate.routes import STATIC, Gallery, routes
from landslide.curate.store import CurationPaths, DecisionStore, default_curator
from landslide.errors import CurationError
from landslide.params import Params

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ANY_HOST = frozenset({"0.0.0.0", "::", ""})
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


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK


def allowed_hosts(bind_host: str) -> frozenset[str] | None:
    """Host names a request may name: loopback, plus the bound host; None = any (0.0.0.0)."""
    host = bind_host.strip("[]").lower()
    if host in ANY_HOST:
        return None
    return LOOPBACK | {host}


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
        routes=routes(),
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
