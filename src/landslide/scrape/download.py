"""Polite, hostile-proof HTTP: one pooled client, per-host rate limit, robots.txt,
retries with exponential backoff honouring `Retry-After`, bodies streamed and cut off
at `scrape.max_bytes`, and images checked by decoding them.

`Http.get` is the one way out to the network. It follows redirects itself (each hop
is checked for its scheme, robots.txt and rate limit; more than `max_redirects` hops
is refused), retries 429, 5xx, timeouts and dropped connections, and raises
`Rejected(reason, detail)` for anything it gives up on; the stage counts the reasons.

`check_image` trusts neither the URL's extension nor the Content-Type: it opens the
bytes with Pillow (only the raster formats a photo comes in), refuses too many pixels
before decoding, then verifies and fully decodes them.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
from PIL import Image

from landslide.params import ScrapeParams

REDIRECTS = (301, 302, 303, 307, 308)
ROBOTS_MAX_BYTES = 512_000  # what Google reads of a robots.txt
MAX_CRAWL_DELAY_S = 60.0
# Decoded format -> file extension. Only these are opened: Pillow tries no other plugin
# on untrusted bytes (EPS would run Ghostscript, for one).
FORMATS = {
    "JPEG": "jpg",
    "MPO": "jpg",  # a camera's multi-picture JPEG
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tif",
    "GIF": "gif",
    "BMP": "bmp",
}
OPEN_FORMATS = [f for f in FORMATS if f != "MPO"]  # JPEG's opener returns MPO files too


class Rejected(Exception):
    """A download or image refused; `reason` is a short key counted in the summary."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class _Retry(Exception):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"'")
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def user_agent(p: ScrapeParams) -> str:
    """`landslide-pipeline/0.1 (contact) httpx/0.28`: the project, a contact, the library."""
    contact = p.contact or "no contact set in scrape.contact"
    return f"{p.user_agent} ({contact}) httpx/{httpx.__version__}"


class RateLimiter:
    """At most `per_second` requests per host, shared by all threads; a host that answers
    429 with Retry-After (or asks for a crawl delay) is paused for everyone."""

    def __init__(self, per_second: float, stopped: threading.Event) -> None:
        self.interval = 1.0 / per_second
        self.stopped = stopped
        self._next: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self._intervals.get(host, self.interval)
        if slot > now and self.stopped.wait(slot - now):
            raise Rejected("stopped")

    def pause(self, host: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._next[host] = max(self._next.get(host, until), until)

    def slow_down(self, host: str, interval: float) -> None:
        with self._lock:
            self._intervals[host] = max(self.interval, interval)


class Robots:
    """robots.txt per origin, fetched once: 2xx parsed; 401/403 (and unreachable, or a
    server error) disallow everything; other 4xx allow everything."""

    def __init__(self, http: Http, agent: str) -> None:
        self.http = http
        self.agent = agent
        self._rules: dict[str, RobotFileParser | bool] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            if origin not in self._rules:
                self._rules[origin] = self._fetch(origin, parts.netloc)
        rules = self._rules[origin]
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(self.agent, url)

    def _fetch(self, origin: str, host: str) -> RobotFileParser | bool:
        try:
            r = self.http.get(
                f"{origin}/robots.txt", robots=False, max_bytes=ROBOTS_MAX_BYTES, accept="text/*"
            )
        except Rejected as exc:
            if exc.reason in ("http 401", "http 403", "http 429"):
                return False
            # no robots.txt (other 4xx): anything goes; unreachable or failing (5xx,
            # timeouts): nothing, since what cannot be checked is not crawled
            return exc.reason.startswith("http 4") or exc.reason == "too large"
        rules = RobotFileParser()
        rules.parse(r.text.splitlines())
        delay = rules.crawl_delay(self.agent)
        if delay:
            self.http.limiter.slow_down(host, min(float(delay), MAX_CRAWL_DELAY_S))
        return rules


class Http:
    """One pooled httpx client for the whole run (thread-safe)."""

    def __init__(self, p: ScrapeParams) -> None:
        self.p = p
        self.agent = user_agent(p)
        self.robots_agent = p.user_agent.split("/")[0].split()[0]
        self.stopped = threading.Event()
        self.limiter = RateLimiter(p.rate_per_host, self.stopped)
        self.robots = Robots(self, self.robots_agent)
        self.client = httpx.Client(
            headers={"User-Agent": self.agent},
            timeout=httpx.Timeout(p.timeout_s),
            limits=httpx.Limits(
                max_connections=p.concurrency + 4, max_keepalive_connections=p.concurrency + 4
            ),
            follow_redirects=False,
            trust_env=True,  # HTTP(S)_PROXY from the environment, as users expect
            mounts={"all://127.0.0.1": None, "all://localhost": None},  # loopback: no proxy
        )

    def stop(self) -> None:
        """Waits (backoff, rate limit) end at once; requests in flight end at their timeout."""
        self.stopped.set()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def get(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        robots: bool = True,
        max_bytes: int | None = None,
        accept: str = "*/*",
    ) -> Response:
        """GET with redirects, retries and a size cap; raises Rejected when it gives up."""
        p = self.p
        max_bytes = max_bytes or p.max_bytes
        last: _Retry | None = None
        for attempt in range(p.retries + 1):
            if last is not None:
                delay = p.backoff_s * 2 ** (attempt - 1) * (1 + 0.25 * random.random())
                if last.retry_after is not None:
                    if last.retry_after > p.max_retry_after_s:
                        raise Rejected(
                            last.reason, f"Retry-After {last.retry_after:g} s is too long"
                        )
                    delay = max(delay, last.retry_after)
                if self.stopped.wait(delay):
                    raise Rejected("stopped")
            try:
                return self._follow(url, params, robots=robots, max_bytes=max_bytes, accept=accept)
            except _Retry as exc:
                last = exc
        assert last is not None
        raise Rejected(last.reason, f"{last.detail} (after {p.retries + 1} attempts)")

    def _follow(
        self, url: str, params: dict[str, Any] | None, *, robots: bool, max_bytes: int, accept: str
    ) -> Response:
        if params:  # in the URL itself, so that robots.txt rules about queries apply
            try:
                url = str(httpx.URL(url).copy_merge_params(params))
            except (httpx.InvalidURL, TypeError, ValueError) as exc:
                raise Rejected("bad url", f"{type(exc).__name__}: {exc}"[:200]) from None
        for _hop in range(self.p.max_redirects + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Rejected("bad url", f"not an http(s) URL: {url[:200]}")
            if robots and self.p.robots and not self.robots.allowed(url):
                raise Rejected("robots.txt", f"disallowed for {self.robots_agent}: {url[:200]}")
            self.limiter.wait(parts.netloc)
            response = self._once(url, max_bytes=max_bytes, accept=accept)
            if isinstance(response, str):  # a redirect: the next hop
                url = response
                continue
            return response
        raise Rejected("redirect loop", f"more than {self.p.max_redirects} redirects")

    def _once(self, url: str, *, max_bytes: int, accept: str) -> Response | str:
        """One request: a Response, or the next URL of a redirect."""
        headers = {"Accept": accept}
        if not accept.startswith(("application/json", "text/")):
            headers["Accept-Encoding"] = "identity"  # images are compressed already
        host = urlsplit(url).netloc
        deadline = time.monotonic() + 10 * self.p.timeout_s  # a server dripping bytes
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                status = r.status_code
                if status in REDIRECTS and "location" in r.headers:
                    return urljoin(str(r.url), r.headers["location"])
                if status == 429 or status >= 500:
                    retry_after = _retry_after(r.headers.get("retry-after"))
                    if retry_after is not None:
                        self.limiter.pause(host, min(retry_after, self.p.max_retry_after_s))
                    raise _Retry(f"http {status}", f"{url[:200]}", retry_after)
                if not 200 <= status < 300:  # 4xx, or a 3xx without a Location
                    raise Rejected(f"http {status}", url[:200])
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise Rejected("too large", f"{int(declared):,} bytes > {max_bytes:,}")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise Rejected("too large", f"more than {max_bytes:,} bytes")
                    if time.monotonic() > deadline:
                        raise Rejected("too slow", f"not done in {10 * self.p.timeout_s:g} s")
                return Response(str(r.url), status, r.headers, bytes(body))
        except httpx.TimeoutException as exc:
            raise _Retry("timeout", f"{type(exc).__name__} after {self.p.timeout_s:g} s") from None
        except httpx.UnsupportedProtocol as exc:
            raise Rejected("bad url", str(exc)[:200]) from None
        except httpx.TransportError as exc:
            raise _Retry("connection", f"{type(exc).__name__}: {exc}"[:200]) from None
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise Rejected("bad url", f"{type(exc).__name__}: {exc}"[:200]) from None
        except httpx.HTTPError as exc:  # undecodable Content-Encoding, a broken stream
            raise Rejected("bad response", f"{type(exc).__name__}: {exc}"[:200]) from None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Checked:
    """A decoded image: what the manifest records about it."""

    ext: str
    width: int
    height: int
    phash: str  # 16 hex digits


def check_image(data: bytes, p: ScrapeParams) -> Checked:
    """Decode `data` fully; Rejected unless it is a whole photo of an acceptable size.

    The pixel count is checked from the header, before any pixel is decoded, so a
    decompression bomb costs nothing.
    """
    from landslide.scrape.dedup import phash_of

    formats = OPEN_FORMATS
    try:
        with Image.open(BytesIO(data), formats=formats) as im:
            fmt, (w, h) = im.format or "", im.size
            if w * h > p.max_pixels:
                raise Rejected("too many pixels", f"{w}x{h} > {p.max_pixels:,} pixels")
            if min(w, h) < p.min_side:
                raise Rejected("too small", f"{w}x{h}, shorter side < {p.min_side}")
            im.verify()
        with Image.open(BytesIO(data), formats=formats) as im:
            im.load()
            phash = phash_of(im)
    except Rejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too many pixels", str(exc)[:200]) from None
    except Image.UnidentifiedImageError:
        raise Rejected("not an image", _sniff(data)) from None
    except Exception as exc:  # Pillow raises many kinds on hostile bytes
        raise Rejected("corrupt", f"{type(exc).__name__}: {exc}"[:200]) from None
    return Checked(FORMATS.get(fmt, "img"), w, h, phash)


def _sniff(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")):
        return "markup (HTML/XML/SVG)"
    if head.startswith((b"{", b"[")):
        return "JSON"
    return f"{len(data):,} bytes of an unknown format"
