"""Sources: Commons, Openverse and Bing answers (shaped like the real ones, from a
loopback server) become candidates with provenance and licences; broken answers are
errors naming the source and query."""

from __future__ import annotations

import json

import pytest

from fixtures.scrape.fake_services import FakeServices, Reply
from landslide.errors import ScrapeError
from landslide.scrape.base import Candidate, licence_allowed, licence_code, licence_name
from landslide.scrape.bing import Bing, licence_filter
from landslide.scrape.commons import Commons
from landslide.scrape.download import Http
from landslide.scrape.openverse import Openverse


def search(fake: FakeServices, cls: type, query: str, limit: int = 100, **over) -> list[Candidate]:
    with Http(fake.params(**over)) as http:
        return list(cls(fake.params(**over), http).search(query, limit))


def api_calls(fake: FakeServices, path: str) -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.path == path]


# ------------------------------------------------------------------------------ commons


def test_commons_search_reads_extmetadata(fake: FakeServices) -> None:
    fake.result("commons", "landslide", "/img/a.jpg", title="Slide at Vaiont", author="Ann Lee")
    fake.result("commons", "landslide", "/img/b.jpg", licence="cc0", size=(4000, 3000))
    a, b = search(fake, Commons, "landslide")
    assert a.source == "commons" and a.query == "landslide"
    assert a.image_url == fake.url("/img/a.jpg")
    assert a.page_url == "https://commons.wikimedia.org/wiki/File:Slide_at_Vaiont.jpg"
    assert a.title == "Slide at Vaiont"
    assert a.author == "Ann Lee"  # the Artist HTML reduced to its text
    assert (a.licence, a.licence_url) == (
        "CC BY-SA 4.0",
        "https://creativecommons.org/licenses/by-sa/4.0",
    )
    assert a.licence_code == "by-sa"
    assert a.attribution == "Slide at Vaiont, by Ann Lee, CC BY-SA 4.0, via Wikimedia Commons"
    assert (a.width, a.height) == (320, 240)
    assert (b.licence_code, b.width) == ("cc0", 4000)
    call = api_calls(fake, "/w/api.php")[0]
    assert call["generator"] == "search" and call["gsrnamespace"] == "6"
    assert "extmetadata" in call["iiprop"] and call["formatversion"] == "2"
    assert call["maxlag"] == "5"


def test_commons_pages_through_continue_and_stops_at_the_limit(fake: FakeServices) -> None:
    for i in range(120):
        fake.result("commons", "frana", f"/img/{i}.jpg")
    found = search(fake, Commons, "frana", limit=70)
    assert [c.image_url for c in found] == [fake.url(f"/img/{i}.jpg") for i in range(70)]
    calls = api_calls(fake, "/w/api.php")
    assert len(calls) == 2 and calls[1]["gsroffset"] == "50"


@pytest.mark.parametrize("shape", ["dict", "dict-no-index"])
def test_commons_classic_response_keyed_by_page_id(fake: FakeServices, shape: str) -> None:
    """formatversion 1 (what older mirrors answer): `query.pages` is an object keyed by
    page id, in no particular order; `index`, else the page id, gives the order."""
    fake.commons_shape = shape
    for i in range(60):
        fake.result("commons", "landslide", f"/img/{i}.jpg", author=f"A{i}")
    found = search(fake, Commons, "landslide", limit=55)
    assert [c.image_url for c in found] == [fake.url(f"/img/{i}.jpg") for i in range(55)]
    assert found[3].author == "A3" and found[3].licence == "CC BY-SA 4.0"
    assert len(api_calls(fake, "/w/api.php")) == 2  # `continue` is followed as with lists


def test_commons_pages_in_order() -> None:
    from landslide.scrape.commons import in_order

    assert in_order([{"index": 2, "t": "b"}, {"index": 1, "t": "a"}]) == [
        {"index": 1, "t": "a"},
        {"index": 2, "t": "b"},
    ]
    by_index = {"7": {"pageid": 7, "index": 1}, "3": {"pageid": 3, "index": 2}}
    assert [p["pageid"] for p in in_order(by_index)] == [7, 3]  # index beats page id
    by_id = {"12": {"pageid": 12}, "-1": {"missing": True}, "9": {"pageid": 9}}
    assert [p.get("pageid") for p in in_order(by_id)] == [None, 9, 12]


def test_commons_category_lists_its_files(fake: FakeServices) -> None:
    fake.result("commons", "Category:Landslides", "/img/a.jpg")
    assert len(search(fake, Commons, "Category:Landslides")) == 1
    call = api_calls(fake, "/w/api.php")[0]
    assert call["generator"] == "categorymembers" and call["gcmtype"] == "file"
    assert call["gcmtitle"] == "Category:Landslides"
    assert not Openverse.accepts("Category:Landslides") and Commons.accepts("Category:X")


def test_commons_skips_files_that_are_not_photos(fake: FakeServices) -> None:
    fake.result("commons", "map", "/img/a.svg", mime="image/svg+xml")
    fake.result("commons", "map", "/img/b.pdf", mime="application/pdf")
    fake.result("commons", "map", "/img/c.jpg")
    assert [c.image_url for c in search(fake, Commons, "map")] == [fake.url("/img/c.jpg")]


def test_commons_thumbnails_when_asked(fake: FakeServices) -> None:
    fake.result("commons", "landslide", "/img/a.jpg")
    search(fake, Commons, "landslide", commons_width=1920)
    assert api_calls(fake, "/w/api.php")[0]["iiurlwidth"] == "1920"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"query": {"pages": "oops"}}', "unexpected API response"),
        (
            b'{"query": {"pages": [{"imageinfo": [{"mime": "image/jpeg", "url": 3}]}, 7]}}',
            "unexpected",
        ),
        (b'{"error": {"code": "badvalue", "info": "Unrecognized value"}}', "API error badvalue"),
    ],
    ids=["malformed", "array", "pages-not-list", "page-not-object", "api-error"],
)
def test_commons_broken_answers_name_the_source(
    fake: FakeServices, body: bytes, message: str
) -> None:
    fake.route("/w/api.php", lambda r: Reply(body=body, content_type="application/json"))
    with pytest.raises(ScrapeError) as info:
        search(fake, Commons, "landslide")
    assert info.value.where == "commons: query 'landslide'"
    assert message in info.value.message


def test_commons_waits_out_maxlag(fake: FakeServices) -> None:
    lagged = (
        b'{"error": {"code": "maxlag", "info": "Waiting for a database server: 6 seconds lagged"}}'
    )
    fake.result("commons", "landslide", "/img/a.jpg")
    original = fake._commons

    def route(r):
        if r.hit == 1:
            return Reply(body=lagged, content_type="application/json", headers={"Retry-After": "0"})
        return original(r.query)

    fake.route("/w/api.php", route)
    assert len(search(fake, Commons, "landslide")) == 1


def test_an_api_that_keeps_failing_is_an_error(fake: FakeServices) -> None:
    fake.route("/w/api.php", lambda r: Reply(503, b"down", "text/plain"))
    with pytest.raises(ScrapeError, match="API request failed: http 503"):
        search(fake, Commons, "landslide", retries=1)


# ---------------------------------------------------------------------------- openverse


def test_openverse_results(fake: FakeServices) -> None:
    fake.result("openverse", "landslide", "/img/a.jpg", title="Debris", author="Bo", licence="by")
    (c,) = search(fake, Openverse, "landslide")
    assert c.source == "openverse" and c.image_url == fake.url("/img/a.jpg")
    assert c.page_url == "https://www.flickr.com/photos/someone/0"
    assert (c.title, c.author) == ("Debris", "Bo")
    assert (c.licence, c.licence_code) == ("CC BY 2.0", "by")
    assert c.licence_url == "https://creativecommons.org/licenses/by/2.0/"
    assert c.attribution == '"Debris" by Bo is licensed under CC BY 2.0.'
    assert (c.width, c.height) == (320, 240)


def test_openverse_respects_anonymous_limits(fake: FakeServices) -> None:
    for i in range(300):
        fake.result("openverse", "landslide", f"/img/{i}.jpg")
    found = search(fake, Openverse, "landslide", limit=1000)
    assert len(found) == 240  # anonymous requests page at most this far
    calls = api_calls(fake, "/v1/images/")
    assert len(calls) == 12 and {c["page_size"] for c in calls} == {"20"}


def test_openverse_stops_at_the_last_page(fake: FakeServices) -> None:
    for i in range(45):
        fake.result("openverse", "landslide", f"/img/{i}.jpg")
    assert len(search(fake, Openverse, "landslide")) == 45
    assert len(api_calls(fake, "/v1/images/")) == 3


def test_openverse_spaces_its_calls(fake: FakeServices) -> None:
    import time

    for i in range(45):
        fake.result("openverse", "landslide", f"/img/{i}.jpg")
    t0 = time.monotonic()
    search(fake, Openverse, "landslide", openverse_interval_s=0.2)
    assert time.monotonic() - t0 >= 0.38  # 3 calls, 2 gaps


def test_openverse_passes_the_licence_filter(fake: FakeServices) -> None:
    fake.result("openverse", "landslide", "/img/a.jpg", licence="by-nc")
    fake.result("openverse", "landslide", "/img/b.jpg", licence="cc0")
    found = search(fake, Openverse, "landslide", licences=["cc0", "by"])
    assert [c.licence_code for c in found] == ["cc0"]
    assert api_calls(fake, "/v1/images/")[0]["license"] == "cc0,by"


@pytest.mark.parametrize(
    "body", [b"<html>rate limited</html>", b'{"detail": "x"}', b'{"results": {"a": 1}}']
)
def test_openverse_broken_answers_name_the_source(fake: FakeServices, body: bytes) -> None:
    fake.route("/v1/images/", lambda r: Reply(body=body, content_type="application/json"))
    with pytest.raises(ScrapeError) as info:
        search(fake, Openverse, "frana")
    assert info.value.where == "openverse: query 'frana'"


# --------------------------------------------------------------------------------- bing


def test_bing_parses_iusc_results(fake: FakeServices) -> None:
    fake.result("bing", "landslide", "/img/a.jpg", title="Road cut by a slide")
    (c,) = search(fake, Bing, "landslide")
    assert c.source == "bing" and c.image_url == fake.url("/img/a.jpg")
    assert c.page_url == "https://example.org/articles/a.jpg"
    assert c.title == "Road cut by a slide"
    assert c.licence == "unknown" and c.licence_code == ""
    assert "rights not verified" in c.attribution
    assert "qft" not in api_calls(fake, "/images/search")[0]


def test_bing_pages_and_stops_when_results_repeat(fake: FakeServices) -> None:
    for i in range(50):
        fake.result("bing", "landslide", f"/img/{i}.jpg")
    found = search(fake, Bing, "landslide")
    assert len(found) == 50 and len({c.image_url for c in found}) == 50
    calls = api_calls(fake, "/images/search")
    assert [c["first"] for c in calls] == ["1", "36", "51"]


def test_bing_licence_filter(fake: FakeServices) -> None:
    fake.result("bing", "landslide", "/img/a.jpg")
    (c,) = search(fake, Bing, "landslide", licences=["cc0", "by", "by-sa"])
    assert api_calls(fake, "/images/search")[0]["qft"] == "+filterui:license-L2_L3"
    assert "unverified" in c.licence and c.licence_checked
    assert licence_allowed(c, ["cc0", "by", "by-sa"])
    assert licence_filter(["cc0"])[0] == "+filterui:license-L1"
    assert licence_filter(["by-nc"])[0] == "+filterui:licenseType-Any"


def test_bing_changed_html_is_an_error(fake: FakeServices) -> None:
    page = b"<html><body><div class='new-layout'><img src='x.jpg'></div></body></html>"
    fake.route("/images/search", lambda r: Reply(body=page, content_type="text/html"))
    with pytest.raises(ScrapeError) as info:
        search(fake, Bing, "frana")
    assert info.value.where == "bing: query 'frana'"
    assert "a.iusc" in info.value.message and "layout" in (info.value.hint or "")


def test_bing_malformed_m_json(fake: FakeServices) -> None:
    good = json.dumps({"murl": fake.url("/img/a.jpg"), "purl": "https://example.org/p"})
    page = (
        "<html><body>"
        "<a class='iusc' m='{not json'></a><a class='iusc'></a>"
        "<a class='iusc' m='{\"purl\": \"https://example.org\"}'></a>"
        f"<a class='iusc' m='{good}'></a></body></html>"
    )
    fake.route("/images/search", lambda r: Reply(body=page.encode(), content_type="text/html"))
    assert [c.image_url for c in search(fake, Bing, "x", limit=10)] == [fake.url("/img/a.jpg")]
    bad = "<html><body><a class='iusc' m='{not json'></a></body></html>"
    fake.route("/images/search", lambda r: Reply(body=bad.encode(), content_type="text/html"))
    with pytest.raises(ScrapeError, match="murl"):
        search(fake, Bing, "x")


def test_bing_honours_robots_txt(fake: FakeServices) -> None:
    fake.robots = "User-agent: *\nDisallow: /images/search\n"
    with pytest.raises(ScrapeError) as info:
        search(fake, Bing, "landslide")
    assert "robots.txt" in info.value.message and "robots" in (info.value.hint or "")
    assert fake.hits["/images/search"] == 0


def test_bing_robots_rules_about_queries(fake: FakeServices) -> None:
    fake.robots = "User-agent: *\nDisallow: /images/search?q=secret\n"
    fake.result("bing", "landslide", "/img/a.jpg")
    assert len(search(fake, Bing, "landslide")) == 1
    with pytest.raises(ScrapeError, match=r"robots\.txt"):
        search(fake, Bing, "secret")


# ------------------------------------------------------------------------------ licences


@pytest.mark.parametrize(
    ("name", "url", "code"),
    [
        ("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0", "by-sa"),
        ("CC BY-SA 3.0 de", "", "by-sa"),
        ("CC BY 2.0", "", "by"),
        ("CC BY-NC-SA 2.0", "", "by-nc-sa"),
        ("CC0", "", "cc0"),
        ("", "https://creativecommons.org/publicdomain/zero/1.0/deed.en", "cc0"),
        ("Public domain", "", "pdm"),
        ("", "https://creativecommons.org/publicdomain/mark/1.0/", "pdm"),
        ("GFDL", "", ""),
        ("unknown", "", ""),
    ],
)
def test_licence_codes(name: str, url: str, code: str) -> None:
    assert licence_code(name, url) == code


def test_licence_names() -> None:
    assert licence_name("by-sa", "2.0") == "CC BY-SA 2.0"
    assert licence_name("cc0") == "CC0 1.0"
    assert licence_name("pdm") == "Public Domain Mark 1.0"
    assert licence_code(licence_name("by-nc-nd", "4.0")) == "by-nc-nd"
