"""Polite, hostile-proof downloading: retries, Retry-After, timeouts, redirect loops, size
cut-off, robots.txt, and images checked by decoding (against a loopback server)."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from fixtures.scrape.fake_services import (
    FakeServices,
    Reply,
    bomb_png,
    encode,
    endless,
    fail_then,
    never_answers,
    photo,
    redirect,
)
from landslide.scrape.download import Http, RateLimiter, Rejected, check_image, user_agent

JPEG = encode(photo(1))


def get(fake: FakeServices, path: str, **overrides: object) -> bytes:
    with Http(fake.params(**overrides)) as http:
        return http.get(fake.url(path)).body


def rejected(fake: FakeServices, path: str, **overrides: object) -> Rejected:
    with pytest.raises(Rejected) as info:
        get(fake, path, **overrides)
    return info.value


# ------------------------------------------------------------------------------ network


def test_500_then_success_is_retried(fake: FakeServices) -> None:
    fake.route("/img/busy.jpg", fail_then(500, JPEG, times=2))
    assert get(fake, "/img/busy.jpg", retries=2) == JPEG
    assert fake.hits["/img/busy.jpg"] == 3


def test_retries_are_bounded(fake: FakeServices) -> None:
    fake.route("/img/down.jpg", fail_then(503, JPEG, times=99))
    assert rejected(fake, "/img/down.jpg", retries=2).reason == "http 503"
    assert fake.hits["/img/down.jpg"] == 3


def test_429_honours_retry_after(fake: FakeServices) -> None:
    fake.route("/img/slow-down.jpg", fail_then(429, JPEG, times=1, **{"Retry-After": "1"}))
    t0 = time.monotonic()
    assert get(fake, "/img/slow-down.jpg", backoff_s=0.01) == JPEG
    assert time.monotonic() - t0 >= 0.95  # waited what the server asked, not 10 ms
    assert fake.hits["/img/slow-down.jpg"] == 2


def test_429_with_a_retry_after_too_long_gives_up_at_once(fake: FakeServices) -> None:
    fake.route("/img/later.jpg", fail_then(429, JPEG, times=1, **{"Retry-After": "3600"}))
    t0 = time.monotonic()
    exc = rejected(fake, "/img/later.jpg", max_retry_after_s=5)
    assert exc.reason == "http 429" and "Retry-After" in exc.detail
    assert time.monotonic() - t0 < 1


def test_a_server_that_never_answers_times_out(fake: FakeServices) -> None:
    fake.route("/img/silent.jpg", never_answers(fake))
    t0 = time.monotonic()
    exc = rejected(fake, "/img/silent.jpg", timeout_s=0.3, retries=1)
    assert exc.reason == "timeout"
    assert time.monotonic() - t0 < 3
    assert fake.hits["/img/silent.jpg"] == 2


def test_redirect_loop_is_refused(fake: FakeServices) -> None:
    fake.route("/loop/a", redirect("/loop/b"))
    fake.route("/loop/b", redirect(fake.url("/loop/a")))
    exc = rejected(fake, "/loop/a", max_redirects=5)
    assert exc.reason == "redirect loop"
    assert fake.hits["/loop/a"] + fake.hits["/loop/b"] == 6


def test_redirects_are_followed(fake: FakeServices) -> None:
    fake.photo("/img/real.jpg", JPEG)
    fake.route("/img/moved.jpg", redirect("/img/real.jpg"))
    assert get(fake, "/img/moved.jpg") == JPEG


def test_redirect_to_another_scheme_is_refused(fake: FakeServices) -> None:
    fake.route("/img/file.jpg", redirect("file:///etc/passwd"))
    assert rejected(fake, "/img/file.jpg").reason == "bad url"


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "close-delimited"])
def test_a_200_mb_body_is_cut_off(fake: FakeServices, declare: bool) -> None:
    fake.route("/img/huge.jpg", endless(200_000_000, declare=declare))
    t0 = time.monotonic()
    exc = rejected(fake, "/img/huge.jpg", max_bytes=1_000_000)
    assert exc.reason == "too large"
    assert time.monotonic() - t0 < 5
    fake.release.set()
    time.sleep(0.1)
    assert fake.sent["/img/huge.jpg"] < 20_000_000  # the server stopped streaming early


def test_robots_txt_is_honoured(fake: FakeServices) -> None:
    fake.photo("/private/a.jpg", JPEG)
    assert rejected(fake, "/private/a.jpg").reason == "robots.txt"
    assert fake.hits["/private/a.jpg"] == 0
    assert get(fake, "/private/a.jpg", robots=False) == JPEG  # scrape.robots: false


def test_robots_txt_that_fails_disallows_everything(fake: FakeServices) -> None:
    fake.route("/robots.txt", lambda r: Reply(500, b"oops", "text/plain"))
    fake.photo("/img/a.jpg", JPEG)
    assert rejected(fake, "/img/a.jpg", retries=0).reason == "robots.txt"


def test_missing_robots_txt_allows_everything(fake: FakeServices) -> None:
    fake.route("/robots.txt", lambda r: Reply(404, b"no", "text/plain"))
    fake.photo("/private/a.jpg", JPEG)
    assert get(fake, "/private/a.jpg") == JPEG


def test_robots_txt_is_fetched_once_per_host(fake: FakeServices) -> None:
    for i in range(5):
        fake.photo(f"/img/{i}.jpg", JPEG)
    with Http(fake.params()) as http:
        for i in range(5):
            http.get(fake.url(f"/img/{i}.jpg"))
    assert fake.hits["/robots.txt"] == 1


def test_user_agent_names_the_project_and_the_contact(fake: FakeServices) -> None:
    fake.photo("/img/a.jpg", JPEG)
    get(fake, "/img/a.jpg", user_agent="landslide-pipeline/9.9", contact="me@example.org")
    agent = next(r.headers["User-Agent"] for r in fake.requests if r.path == "/img/a.jpg")
    assert agent.startswith("landslide-pipeline/9.9 (me@example.org)")
    p = fake.params(contact="")
    assert "scrape.contact" in user_agent(p)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a.jpg", "data:,x"])
def test_only_http_urls(fake: FakeServices, url: str) -> None:
    with Http(fake.params()) as http, pytest.raises(Rejected) as info:
        http.get(url)
    assert info.value.reason == "bad url"


def test_rate_limit_per_host(fake: FakeServices) -> None:
    fake.photo("/img/a.jpg", JPEG)
    with Http(fake.params(rate_per_host=10.0, robots=False)) as http:
        t0 = time.monotonic()
        for _ in range(5):
            http.get(fake.url("/img/a.jpg"))
        assert time.monotonic() - t0 >= 0.38  # 5 requests at 10/s: 4 gaps of 0.1 s


def test_rate_limiter_is_shared_and_pauses_a_host() -> None:
    import threading

    limiter = RateLimiter(1000.0, threading.Event())
    limiter.pause("h:1", 0.3)
    t0 = time.monotonic()
    limiter.wait("h:1")
    assert time.monotonic() - t0 >= 0.25
    t0 = time.monotonic()
    limiter.wait("other:1")  # other hosts are not held up
    assert time.monotonic() - t0 < 0.05


# -------------------------------------------------------------------------------- images


def test_a_photo_passes_and_is_described(fake: FakeServices) -> None:
    p = fake.params()
    checked = check_image(JPEG, p)
    assert (checked.ext, checked.width, checked.height) == ("jpg", 320, 240)
    assert len(checked.phash) == 16
    assert check_image(encode(photo(1), "PNG"), p).ext == "png"
    assert check_image(encode(photo(1), "WEBP"), p).ext == "webp"
    assert check_image(encode(photo(1), "TIFF"), p).ext == "tif"


def test_html_served_as_jpeg_is_not_an_image(fake: FakeServices) -> None:
    page = b"<!DOCTYPE html><html><body>Access denied</body></html>"
    with pytest.raises(Rejected) as info:
        check_image(page, fake.params())
    assert info.value.reason == "not an image" and "HTML" in info.value.detail


def test_truncated_jpeg_is_corrupt(fake: FakeServices) -> None:
    with pytest.raises(Rejected) as info:
        check_image(JPEG[: len(JPEG) // 2], fake.params())
    assert info.value.reason == "corrupt"


def test_one_pixel_is_too_small(fake: FakeServices) -> None:
    with pytest.raises(Rejected) as info:
        check_image(encode(Image.new("RGB", (1, 1)), "PNG"), fake.params())
    assert info.value.reason == "too small"


def test_decompression_bomb_is_refused_before_decoding() -> None:
    from landslide.params import ScrapeParams

    data = bomb_png(30_000)
    assert len(data) < 1_000_000
    for max_pixels in (50_000_000, 89_478_485):
        t0 = time.monotonic()
        with pytest.raises(Rejected) as info:
            check_image(data, ScrapeParams(max_pixels=max_pixels))
        assert info.value.reason == "too many pixels"
        assert time.monotonic() - t0 < 0.5  # 900 M pixels were never decoded


def test_too_many_pixels_below_pillows_limit() -> None:
    from landslide.params import ScrapeParams

    with pytest.raises(Rejected) as info:
        check_image(encode(photo(1), "PNG"), ScrapeParams(max_pixels=320 * 240 - 1, min_side=1))
    assert info.value.reason == "too many pixels"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\xff" * 20, b"%!PS-Adobe-3.0 EPSF"],
    ids=["empty", "broken-png", "broken-gif", "eps"],
)
def test_garbage_is_rejected_without_a_traceback(fake: FakeServices, data: bytes) -> None:
    with pytest.raises(Rejected):
        check_image(data, fake.params())
