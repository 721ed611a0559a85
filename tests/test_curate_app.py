"""The gallery's HTTP rules, through starlette's TestClient: what it serves, what it refuses."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx is what is pinned
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from typer.testing import CliRunner

from helpers import add_incoming, sample_project
from landslide.cli import app as cli
from landslide.curate import read_decisions
from landslide.curate.app import allowed_hosts, create_app
from landslide.curate.routes import MAX_BODY
from landslide.params import Params

BASE = "http://127.0.0.1:8765"
TOKEN = "test-token-0123456789"
XSS_TITLE = "<script>window.pwned=1</script><img src=x onerror=alert(1)>"


def jpeg(seed: int) -> bytes:
    blocks = np.random.default_rng(seed).integers(0, 255, (6, 8, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(blocks).resize((80, 60), Image.Resampling.NEAREST).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The sample's 3 photos in the curated set, 2 scraped photos (one hostile) incoming."""
    root = sample_project(tmp_path, n=3, min_side=64, max_side=96)
    hostile = {"source": "commons", "licence": 'CC BY "4.0"', "author": "<b>Mallory</b> & co"}
    add_incoming(
        root,
        [
            (jpeg(1), {"title": XSS_TITLE, "page_url": "javascript:alert(1)", **hostile}),
            (jpeg(2), {"title": "Frana", "page_url": "https://x.org/p", **hostile}),
        ],
    )
    # a photo next to the manifest but not in it: never served
    (root / "data" / "raw" / "incoming" / "stray.jpg").write_bytes(jpeg(3))
    return root


@pytest.fixture
def client(project: Path) -> TestClient:
    params = Params()
    return TestClient(create_app(params, project, token=TOKEN, who="tester"), base_url=BASE)


def shas(project: Path) -> list[str]:
    with (project / "data/raw/incoming/manifest.csv").open(encoding="utf-8") as fh:
        return [row["sha256"] for row in csv.DictReader(fh)]


def post(client: TestClient, body: object, **headers: str):  # type: ignore[no-untyped-def]
    sent = {"Origin": BASE, "X-Curate-Token": TOKEN, **headers}
    return client.post("/api/decide", json=body, headers={k: v for k, v in sent.items() if v})


# ---------------------------------------------------------------------------- the page


def test_page_escapes_every_text_from_the_manifest(client: TestClient, project: Path) -> None:
    r = client.get("/")
    assert r.status_code == 200
    page = r.text
    assert "<script>window.pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;Mallory&lt;/b&gt; &amp; co" in page
    assert 'data-licence="CC BY &quot;4.0&quot;"' in page
    assert "javascript:" not in page  # not a link, not even a data attribute
    assert 'data-page-url="https://x.org/p"' in page
    # the only scripts are the package's own file; the CSP forbids inline code
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/curate.js" defer>']
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert f'<meta name="curate-token" content="{TOKEN}">' in page
    # 5 photos: the sample's 3 (source and licence from provenance.csv) and the 2 scraped
    assert page.count('<article class="card') == 5
    assert page.count('data-source="synthetic"') == 3 and 'data-licence="CC0-1.0"' in page


def test_static_assets_are_package_data(client: TestClient) -> None:
    js = client.get("/static/curate.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    # text goes in with textContent only, never parsed as HTML
    assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", js.text)
    assert client.get("/static/curate.css").status_code == 200
    for name in ("curate.py", "..%2Fcurate.py", "..%2F..%2Fparams.py", "%2e%2e%2fcli.py"):
        assert client.get(f"/static/{name}").status_code == 404


def test_photos_are_served_by_sha256_only(client: TestClient, project: Path) -> None:
    sha = shas(project)[1]
    original = client.get(f"/photo/{sha}")
    assert original.status_code == 200 and original.headers["content-type"] == "image/jpeg"
    assert original.content == (project / f"data/raw/incoming/{sha}.jpg").read_bytes()
    thumb = client.get(f"/thumb/{sha}")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    stray = hashlib.sha256((project / "data/raw/incoming/stray.jpg").read_bytes()).hexdigest()
    for path in (
        f"/photo/{stray}",  # a real file, but not in the manifest
        f"/thumb/{stray}",
        "/photo/..%2F..%2F..%2Fetc%2Fpasswd",
        "/photo/%2e%2e/%2e%2e/etc/passwd",
        "/photo/stray.jpg",
        f"/photo/{sha}%2F..%2Fstray.jpg",
        f"/photo/{sha.upper()}x",
        "/photo/",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.content[:2] != b"\xff\xd8"


def test_a_photo_that_cannot_be_read_has_no_thumbnail(client: TestClient, project: Path) -> None:
    sha = shas(project)[0]
    (project / f"data/raw/incoming/{sha}.jpg").write_bytes(b"<html>not a photo</html>")
    r = client.get(f"/thumb/{sha}")
    assert r.status_code == 422 and "thumbnail" in r.text


def test_an_unknown_host_is_refused(client: TestClient) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused."""
    assert client.get("/", headers={"Host": "attacker.example:8765"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert allowed_hosts("0.0.0.0") is None
    assert "192.168.1.5" in (allowed_hosts("192.168.1.5") or ())
    assert "attacker.example" not in (allowed_hosts("127.0.0.1") or ())


# ---------------------------------------------------------------------------- POST


def test_a_decision_is_stored(client: TestClient, project: Path) -> None:
    a, b = shas(project)
    r = post(client, {"items": [{"sha256": a, "decision": "rejected", "label": "unsure"}]})
    assert r.status_code == 200, r.text
    assert r.json()["photos"] == [
        {"sha256": a, "decision": "rejected", "label": "unsure", "note": ""}
    ]
    assert r.json()["counts"]["rejected"] == 1 and r.json()["counts"]["total"] == 5
    d = read_decisions(project / "data/curation/decisions.csv")
    assert (d[a].decision, d[a].label, d[a].who, d[a].file) == (
        "rejected",
        "unsure",
        "tester",
        f"{a}.jpg",
    )
    assert b not in d
    # a note (the viewer's field) is one line of text; the label can be cleared again
    r = post(client, {"items": [{"sha256": a, "note": "scarp\nfresh", "label": ""}]})
    assert r.json()["photos"][0] == {
        "sha256": a,
        "decision": "rejected",
        "label": "",
        "note": "scarp fresh",
    }
    r = post(client, {"items": [{"sha256": a, "label": "unsure"}]})
    # the page shows it after a reload
    assert f'data-sha="{a}" data-decision="rejected" data-label="unsure"' in client.get("/").text


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"X-Curate-Token": ""}, 403, "token"),
        ({"X-Curate-Token": "guessed"}, 403, "token"),
        ({"Origin": "http://attacker.example"}, 403, "cross-origin"),
        ({"Origin": "http://127.0.0.1:9999"}, 403, "cross-origin"),
        ({"Origin": "null"}, 403, "cross-origin"),
        ({"Origin": ""}, 403, "cross-origin"),  # neither Origin nor Referer
        ({"Sec-Fetch-Site": "cross-site"}, 403, "cross-origin"),
    ],
)
def test_posts_without_token_or_from_elsewhere_are_refused(
    client: TestClient, project: Path, headers: dict[str, str], status: int, message: str
) -> None:
    a = shas(project)[0]
    r = post(client, {"items": [{"sha256": a, "decision": "accepted"}]}, **headers)
    assert r.status_code == status and message in r.json()["error"]
    assert not (project / "data/curation/decisions.csv").exists()


def test_a_same_origin_referer_stands_in_for_origin(client: TestClient, project: Path) -> None:
    a = shas(project)[0]
    r = post(
        client,
        {"items": [{"sha256": a, "decision": "accepted"}]},
        Origin="",
        Referer=BASE + "/?x=1",
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"items": [{"sha256": "0" * 64, "decision": "accepted"}]}, "unknown photo"),
        ({"items": [{"sha256": "../../etc/passwd", "decision": "accepted"}]}, "unknown photo"),
        ({"items": [{"sha256": "SHA", "decision": "maybe"}]}, "decision must be"),
        ({"items": [{"sha256": "SHA", "label": "rockfall"}]}, "label must be"),
        ({"items": [{"sha256": "SHA", "note": "x" * 501}]}, "note must be"),
        ({"items": [{"sha256": "SHA", "path": "/etc/passwd"}]}, "expected sha256"),
        ({"items": []}, "1 to 1000 items"),
        ({"items": [{"sha256": "SHA"}] * 1001}, "1 to 1000 items"),
        ([1, 2], "expected"),
    ],
)
def test_bad_bodies_are_refused(
    client: TestClient, project: Path, body: object, message: str
) -> None:
    a = shas(project)[0]
    if isinstance(body, dict):
        body = {
            "items": [{**i, "sha256": a} if i.get("sha256") == "SHA" else i for i in body["items"]]
        }
    r = post(client, body)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert not (project / "data/curation/decisions.csv").exists()


def test_oversized_and_non_json_bodies_are_refused(client: TestClient) -> None:
    big = b'{"items": [' + b" " * MAX_BODY + b"]}"
    headers = {"Origin": BASE, "X-Curate-Token": TOKEN, "Content-Type": "application/json"}
    assert client.post("/api/decide", content=big, headers=headers).status_code == 413
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/api/decide", content=b"items=1", headers=form).status_code == 415
    bad = client.post("/api/decide", content=b"{not json", headers=headers)
    assert bad.status_code == 400


# ---------------------------------------------------------------------------- CLI


def test_cli_status_and_apply(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    runner = CliRunner()
    r = runner.invoke(cli, ["curate", "status"])
    assert r.exit_code == 0, r.output
    assert "photos: 5 (2 scraped" in r.output and "undecided: 5" in r.output
    a = shas(project)[1]
    client = TestClient(create_app(Params(), project, token=TOKEN), base_url=BASE)
    assert post(client, {"items": [{"sha256": a, "decision": "accepted"}]}).status_code == 200
    r = runner.invoke(cli, ["curate", "apply"])
    assert r.exit_code == 0, r.output
    assert "1 copied" in r.output and (project / f"data/raw/images/{a}.jpg").exists()
    r = runner.invoke(cli, ["curate", "status"])
    assert "accepted: 1" in r.output and "undecided: 4" in r.output


def test_cli_serve_warns_off_loopback(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import landslide.curate.app as curate_app

    seen: dict[str, object] = {}

    def fake_serve(params: Params, root: Path, *, host: str, port: int, on_ready) -> None:  # type: ignore[no-untyped-def]
        seen.update(host=host, port=port)
        on_ready(f"http://{host}:{port}/", SimpleNamespace(photos=[1, 2], warnings=[]))

    monkeypatch.setattr(curate_app, "serve", fake_serve)
    monkeypatch.chdir(project)
    r = CliRunner().invoke(cli, ["curate", "serve", "--host", "0.0.0.0", "--port", "0"])
    assert r.exit_code == 0, r.output
    assert seen == {"host": "0.0.0.0", "port": 0}
    assert "warning" in r.output and "2 photos at http://0.0.0.0:0/" in r.output
    r = CliRunner().invoke(cli, ["curate", "serve"])
    assert seen == {"host": "127.0.0.1", "port": 8765} and "warning" not in r.output
