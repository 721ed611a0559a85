"""The gallery in a real browser: headless Chromium (selenium + chromedriver) on 127.0.0.1.

`make setup` installs Debian's `chromium` and `chromium-driver` where apt-get runs as
root; elsewhere install them (or any Chromium and its matching chromedriver) and put them
on PATH, or these tests skip saying what is missing. A screenshot of the gallery is saved
in the test's tmp dir and, when LANDSLIDE_ARTIFACTS is set, there too.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from helpers import add_incoming, sample_project
from landslide.curate import read_decisions
from landslide.curate.app import create_app
from landslide.params import Params

XSS_TITLE = "<script>window.pwned=1</script>Frana <b>bold</b>"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
DRIVERS = (
    "chromedriver",
    "/usr/lib/chromium/chromedriver",
    "/usr/lib/chromium-browser/chromedriver",
)


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isfile(name) else None)
        if found:
            return found
    return None


def _browser() -> tuple[str, str]:
    """(chromium, chromedriver) or skip with the reason."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (make setup installs the dev extras)")
    chrome = _which(BROWSERS)
    driver = _which(DRIVERS)
    if chrome is None or driver is None:
        missing = " and ".join(
            n for n, found in (("Chromium", chrome), ("chromedriver", driver)) if not found
        )
        pytest.skip(
            f"no {missing} found: `apt-get install chromium chromium-driver` "
            "(make setup runs it where apt-get is usable as root)"
        )
    return chrome, driver


def _jpeg(seed: int, shade: int = 0) -> bytes:
    blocks = np.random.default_rng(seed).integers(0, 200, (6, 8, 3)) + shade
    image = Image.fromarray(np.clip(blocks, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    image.resize((160, 120), Image.Resampling.NEAREST).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """3 scraped photos (a near-duplicate pair, a hostile title) and the sample's 6."""
    root = sample_project(tmp_path, n=6, min_side=96, max_side=160)
    specs = [
        (_jpeg(1), "Debris flow, Valtellina", "commons", "CC BY-SA 4.0"),
        (_jpeg(1, shade=6), "Debris flow, Valtellina (crop)", "openverse", "CC BY 2.0"),
        (_jpeg(2), XSS_TITLE, "openverse", "CC0"),
    ]
    by = {"author": "A. Geologist", "page_url": "https://example.org/p"}
    add_incoming(
        root,
        [
            (data, {"title": title, "source": source, "licence": licence, **by})
            for data, title, source, licence in specs
        ],
    )
    return root


@pytest.fixture
def gallery(project: Path) -> Iterator[str]:
    """The gallery served by uvicorn in a thread on 127.0.0.1, an ephemeral port."""
    import uvicorn

    app = create_app(Params(), project, who="browser-test")
    app.state.gallery.catalogue()  # build it before the browser asks
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    chrome, chromedriver = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--window-size=1280,900",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _save_screenshot(driver: Any, tmp_path: Path) -> Path:
    shot = tmp_path / "curate-gallery.png"
    assert driver.save_screenshot(str(shot)), "no screenshot"
    target = os.environ.get("LANDSLIDE_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
    return shot


def test_curate_with_the_keyboard_in_chromium(
    browser: Any, gallery: str, project: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 15)

    def keys(*sequence: str) -> None:
        ActionChains(browser).send_keys(*sequence).perform()

    def cards() -> list[Any]:
        return browser.find_elements(By.CSS_SELECTOR, ".card")

    def attr(sha: str, name: str) -> str:
        return browser.find_element(By.ID, f"card-{sha}").get_attribute(name) or ""

    def until(sha: str, name: str, value: str) -> None:
        wait.until(lambda _: attr(sha, name) == value, f"{name} of {sha[:8]} != {value!r}")

    def focused() -> str:
        return browser.find_element(By.CSS_SELECTOR, ".card.focused").get_attribute("data-sha")

    browser.get(gallery)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    shas = [c.get_attribute("data-sha") for c in cards()]
    assert len(shas) == 9 and all(c.is_displayed() for c in cards())
    assert browser.find_element(By.ID, "count-total").text == "9"

    # the hostile title is text, and no script of the manifest ran
    hostile = next(c for c in cards() if "Frana" in c.text)
    assert hostile.find_element(By.CSS_SELECTOR, ".title").text == XSS_TITLE
    assert browser.execute_script("return window.pwned === undefined")
    # near-duplicates sit side by side, badged as one group
    dups = [c for c in cards() if c.get_attribute("data-group") is not None]
    assert (
        len(dups) == 2
        and shas.index(dups[1].get_attribute("data-sha"))
        == shas.index(dups[0].get_attribute("data-sha")) + 1
    )
    assert "group 1 of 2" in dups[0].find_element(By.CSS_SELECTOR, ".dup").text

    # accept two photos with the keyboard: `a` accepts and moves to the next photo
    assert focused() == shas[0]
    keys("a")
    until(shas[0], "data-decision", "accepted")
    wait.until(lambda _: focused() == shas[1])
    keys("a")
    until(shas[1], "data-decision", "accepted")

    # reject one with a click on its button
    cards()[2].find_element(By.CSS_SELECTOR, "button.reject").click()
    until(shas[2], "data-decision", "rejected")

    # select three (checkbox, checkbox, shift+arrow) and label them all with `l`
    cards()[3].find_element(By.CSS_SELECTOR, "input.select").click()
    cards()[4].find_element(By.CSS_SELECTOR, "input.select").click()
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ARROW_RIGHT).key_up(
        Keys.SHIFT
    ).perform()
    assert focused() == shas[5]
    assert browser.find_element(By.ID, "selection-count").text == "3 selected"
    keys("l")
    for sha in shas[3:6]:
        until(sha, "data-label", "landslide")
        assert attr(sha, "data-decision") == "undecided"

    # arrows move by column; `u` undoes the last decision
    keys(Keys.ESCAPE)
    assert browser.find_element(By.ID, "selection-count").text == "0 selected"
    keys(Keys.ARROW_RIGHT)
    assert focused() == shas[6]
    columns = browser.execute_script(
        "const c = Array.from(document.querySelectorAll('.card'));"
        "return c.filter(x => x.offsetTop === c[0].offsetTop).length;"
    )
    keys(Keys.ARROW_UP)
    up = max(0, 6 - columns)
    assert focused() == shas[up]
    keys(Keys.ARROW_DOWN)
    assert focused() == shas[min(8, up + columns)] == shas[6]
    keys("r")
    until(shas[6], "data-decision", "rejected")
    keys("u")
    until(shas[6], "data-decision", "undecided")

    # the progress counter follows
    assert browser.find_element(By.ID, "count-accepted").text == "2"
    assert browser.find_element(By.ID, "count-rejected").text == "1"
    assert browser.find_element(By.ID, "count-landslide").text == "3"
    browser.execute_script("window.scrollTo(0, 0)")
    shot = _save_screenshot(browser, tmp_path)
    with Image.open(shot) as image:
        assert image.size[0] >= 1000
        assert len(image.convert("L").resize((64, 64)).getcolors(4096) or []) > 20  # not blank

    # reload: the default filter shows undecided photos only; "all" shows every decision
    browser.refresh()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    shown = [c.get_attribute("data-sha") for c in cards() if c.is_displayed()]
    assert shown == shas[3:]
    Select(browser.find_element(By.ID, "f-decision")).select_by_value("all")
    assert all(c.is_displayed() for c in cards())
    assert [attr(s, "data-decision") for s in shas[:3]] == ["accepted", "accepted", "rejected"]
    assert [attr(s, "data-label") for s in shas[3:6]] == ["landslide"] * 3
    assert "decision=all" in browser.current_url

    # decisions.csv holds the same, written by this curator
    d = read_decisions(project / "data" / "curation" / "decisions.csv")
    assert {s: d[s].decision for s in shas[:3]} == dict(
        zip(shas[:3], ["accepted", "accepted", "rejected"], strict=True)
    )
    assert all(d[s].label == "landslide" and d[s].decision == "undecided" for s in shas[3:6])
    assert d[shas[6]].decision == "undecided"
    assert set(shas[7:]).isdisjoint(d)
    assert {x.who for x in d.values()} == {"browser-test"}
