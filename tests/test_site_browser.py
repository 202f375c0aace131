"""The built site in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Skipped on a developer machine without Chromium or playwright; under CI (CI=true) a missing
browser is a failure, not a skip. scripts/run_tests.sh installs Debian's chromium and the
test extra brings playwright (no browser download: Playwright drives the system Chromium
through executable_path).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import os

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and os.environ.get("CI") == "true":
    raise RuntimeError("CI must run the browser test: /usr/bin/chromium is missing (apt-get install -y chromium)")
if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")

from generator.site.build import render_site  # noqa: E402
from generator.site.fake import make_fake_atlas  # noqa: E402
from generator.site.serve import serving  # noqa: E402

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
CLASSES = ["Billiards", "PlayingCello", "PlayingViolin", "BrushingTeeth", "ShavingBeard", "ApplyEyeMakeup"]
UNIT = "motion/conv1_1/0002"
PAGES = {
    "home": "",
    "layer": "layers/motion/conv1_1/",
    "unit": f"units/{UNIT}/",
    "class": "classes/BrushingTeeth/",
    "failure": "failures/billiards-playingcello/",
    "findings": "findings/",
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    layers = [("appearance/conv1_1", 4), ("motion/conv1_1", 4), ("fusion/conv5_fusion", 3), ("class", 0)]
    atlas = make_fake_atlas(root / "atlas", layers, [0.1, 1.0, 10.0], CLASSES, with_media=True, seed=3)
    site = render_site(atlas, root / "site", title="Browser Atlas")
    with serving(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: object, base_url: str, path: str, **context: object) -> tuple[object, list[str]]:
    """A page at ``path`` that records console errors, page errors and any request leaving the site."""
    page = browser.new_context(**context).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith((base_url, "data:", "blob:")) else problems.append(
        f"third-party request: {r.url}"))  # fmt: skip
    page.goto(base_url + path, wait_until="load")
    return page, problems


ALL_PLAYING = """() => { const v = [...document.querySelectorAll('video[autoplay]')];
                         return v.length > 0 && v.every(x => x.readyState >= 3); }"""


@pytest.mark.parametrize("name", list(PAGES))
def test_pages_load_without_errors_and_their_videos_play(browser: object, base_url: str, name: str) -> None:
    page, problems = _open(browser, base_url, PAGES[name])
    assert page.title()
    if name in ("unit", "class", "failure"):
        page.wait_for_function(ALL_PLAYING, timeout=15_000)
    if name == "unit":
        # The top clips load on demand: ask for them and check they become playable too.
        page.evaluate("() => document.querySelectorAll('video[preload=none]').forEach(v => v.load())")
        page.wait_for_function("() => [...document.querySelectorAll('video')].every(v => v.readyState >= 3)",
                               timeout=15_000)  # fmt: skip
    if name == "layer":
        thumb = page.locator(".atlas-thumb[data-video]").first
        thumb.hover()
        page.wait_for_function("() => { const v = document.querySelector('.atlas-thumb video');"
                               " return v && v.readyState >= 3 && !v.paused; }", timeout=15_000)  # fmt: skip
        page.select_option(".atlas-sort", "si-desc")
        scores = page.eval_on_selector_all(".atlas-grid .atlas-card", "cs => cs.map(c => parseFloat(c.dataset.si))")
        assert scores == sorted(scores, reverse=True)
    page.wait_for_timeout(300)
    assert problems == []
    page.context.close()


def test_search_finds_a_unit_by_its_id(browser: object, base_url: str) -> None:
    page, problems = _open(browser, base_url, "")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.locator("input.md-search__input").press_sequentially(UNIT, delay=20)
    results = page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=15_000)
    hrefs = results.evaluate_all("links => links.map(a => a.href)")
    paths = [href.split("?")[0] for href in hrefs]  # Material adds ?h=<terms> to highlight them
    assert paths[0] == f"{base_url}units/{UNIT}/", paths
    assert problems == []
    page.context.close()


def test_dark_mode_and_phone_layout(browser: object, base_url: str) -> None:
    page, problems = _open(browser, base_url, PAGES["unit"], viewport={"width": 390, "height": 844},
                           color_scheme="dark", is_mobile=True, has_touch=True)  # fmt: skip
    assert page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == "slate"
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the unit page is {overflow} px wider than a phone screen"
    page.wait_for_function(ALL_PLAYING, timeout=15_000)
    assert problems == []
    page.context.close()
