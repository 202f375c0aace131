"""The built site in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Skipped on a developer machine without Chromium or playwright; under CI (CI=true) a missing
browser is a failure, not a skip. scripts/run_tests.sh installs Debian's chromium and the
test extra brings playwright (no browser download: Playwright drives the system Chromium
through executable_path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and os.environ.get("CI") == "true":
    raise RuntimeError(
        "CI must run the browser test: /usr/bin/chromium is missing (apt-get install -y chromium)"
    )
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs the playwright package (pip install playwright)"
)

from generator.site.build import render_site  # noqa: E402
from generator.site.serve import serving  # noqa: E402
from tests.support.site_data import make_fake_atlas  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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


BUILT: dict[str, Path] = {}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    layers = [("appearance/conv1_1", 4), ("motion/conv1_1", 4), ("fusion/conv5_fusion", 3), ("class", 0)]
    atlas = make_fake_atlas(root / "atlas", layers, [0.1, 1.0, 10.0], CLASSES, with_media=True, seed=3)
    site = render_site(atlas, root / "site", title="Browser Atlas")
    BUILT["site"] = site
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
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith((base_url, "data:", "blob:"))
            else problems.append(f"third-party request: {r.url}")
        ),
    )
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
        page.wait_for_function(
            "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 3)", timeout=15_000
        )
    if name == "layer":
        thumb = page.locator(".atlas-thumb[data-video]").first
        thumb.hover()
        page.wait_for_function(
            "() => { const v = document.querySelector('.atlas-thumb video');"
            " return v && v.readyState >= 3 && !v.paused; }",
            timeout=15_000,
        )
        page.select_option(".atlas-sort", "si-desc")
        scores = page.eval_on_selector_all(
            ".atlas-grid .atlas-card", "cs => cs.map(c => parseFloat(c.dataset.si))"
        )
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
    page, problems = _open(
        browser,
        base_url,
        PAGES["unit"],
        viewport={"width": 390, "height": 844},
        color_scheme="dark",
        is_mobile=True,
        has_touch=True,
    )
    assert page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == "slate"
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the unit page is {overflow} px wider than a phone screen"
    page.wait_for_function(ALL_PLAYING, timeout=15_000)
    assert problems == []
    page.context.close()


def _synthetic_index(site: Path, count: int) -> dict:
    """The built site's unit index grown to ``count`` rows: copies of its rows with new ids and
    spread numbers (the page's script sees only the JSON, so this is the index of a big atlas)."""
    import json
    import random

    data = json.loads((site / "data/unit-index.json").read_text(encoding="utf-8"))
    col = {name: i for i, name in enumerate(data["columns"])}
    rng = random.Random(0)
    rows = []
    for n in range(count):
        row = list(data["rows"][n % len(data["rows"])])
        row[col["id"]] = f"{row[col['layer']]}/{n:05d}"
        row[col["si"]] = round(rng.random(), 3)
        row[col["dead"]] = n % 50 == 0
        rows.append(row)
    return {"columns": data["columns"], "rows": rows}


def test_unit_index_sorts_and_filters_17000_units(browser: object, base_url: str) -> None:
    import json
    import time

    synthetic = _synthetic_index(BUILT["site"], 17_000)
    body = json.dumps(synthetic)
    context = browser.new_context()
    context.route(
        "**/data/unit-index.json", lambda route: route.fulfill(body=body, content_type="application/json")
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base_url + "units/", wait_until="load")
    page.wait_for_function(
        "() => document.querySelector('.atlas-index').dataset.loaded === '17000'", timeout=15_000
    )
    assert page.locator(".atlas-index tbody tr").count() == 100  # one page is drawn, not 17,000 rows
    assert page.locator(".atlas-index-count").text_content() == "17000 of 17000 units"
    started = time.perf_counter()
    page.click("th[data-sort=si]")  # numbers sort high first
    page.wait_for_function("() => document.querySelector('th[data-sort=si]').getAttribute('aria-sort')")
    elapsed = time.perf_counter() - started
    col = {name: i for i, name in enumerate(synthetic["columns"])}
    top = sorted((r[col["si"]] for r in synthetic["rows"]), reverse=True)[:100]
    shown = page.eval_on_selector_all(
        ".atlas-index tbody tr td:nth-child(6)", "tds => tds.map(t => parseFloat(t.textContent))"
    )
    assert shown == pytest.approx([round(v, 2) for v in top], abs=0.0051)
    assert elapsed < 2.0, f"sorting 17,000 units took {elapsed:.2f} s"
    page.click("th[data-sort=si]")  # again: low first
    low = page.eval_on_selector_all(
        ".atlas-index tbody tr td:nth-child(6)", "tds => tds.map(t => parseFloat(t.textContent))"
    )
    assert low == sorted(low) and low[0] <= shown[-1]
    # words filter: a layer name and the preferred-direction words of the index
    page.fill(".atlas-index-filter", "motion/conv1_1")
    expected = sum(
        "motion/conv1_1" in r[col["id"]].lower() or "motion/conv1_1" in r[col["layer"]].lower()
        for r in synthetic["rows"]
    )
    assert page.locator(".atlas-index-count").text_content() == f"{expected} of 17000 units"
    words = next(r[col["words"]] for r in synthetic["rows"] if r[col["words"]])
    arrow_char = words.split("(")[1].rstrip(")")
    page.fill(".atlas-index-filter", arrow_char)
    with_arrow = sum(arrow_char in (r[col["words"]] or "") for r in synthetic["rows"])
    assert page.locator(".atlas-index-count").text_content() == f"{with_arrow} of 17000 units"
    page.fill(".atlas-index-filter", "")
    page.check(".atlas-index-hide-dead")
    assert page.locator(".atlas-index-count").text_content() == f"{17000 - 340} of 17000 units"
    page.click(".atlas-index-next")
    assert page.locator(".atlas-index-page").text_content().startswith("page 2 of ")
    href = page.locator(".atlas-index tbody tr a").first.get_attribute("href")
    assert href.startswith(base_url + "units/")
    assert errors == []
    context.close()


def test_copy_link_button_copies_the_absolute_link(browser: object, base_url: str) -> None:
    page, problems = _open(
        browser, base_url, PAGES["unit"], permissions=["clipboard-read", "clipboard-write"]
    )
    page.locator("button.atlas-copy").first.click()
    page.wait_for_function("() => document.querySelector('button.atlas-copy').textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == f"{base_url}units/{UNIT}/"
    chi = page.locator("button.atlas-copy-small").last
    chi.click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{base_url}units/{UNIT}/#chi-10"
    page.goto(copied)
    assert page.evaluate("() => document.getElementById('chi-10') !== null")
    assert problems == []
    page.context.close()


def test_embed_page_fits_a_slide_and_plays_offline(browser: object, base_url: str) -> None:
    for url in (f"{base_url}units/{UNIT}/embed.html", (BUILT["site"] / f"units/{UNIT}/embed.html").as_uri()):
        context = browser.new_context(
            viewport={"width": 1280, "height": 720}, offline=url.startswith("file:")
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.on("requestfailed", lambda r, errors=errors: errors.append(f"failed: {r.url}"))
        page.goto(url, wait_until="load")
        page.wait_for_function(ALL_PLAYING, timeout=15_000)
        assert page.locator("video").count() >= 3
        size = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        assert size[0] <= 1280 and size[1] <= 720, size  # no scrolling on a 16:9 slide
        assert UNIT in page.locator("h1").text_content()
        assert page.locator("a", has_text="unit page").count() == 1
        assert errors == []
        context.close()


def test_tuning_plots_are_drawn(browser: object, base_url: str) -> None:
    import json

    index = json.loads((BUILT["site"] / "data/unit-index.json").read_text(encoding="utf-8"))
    col = {name: i for i, name in enumerate(index["columns"])}
    tuned = next(r for r in index["rows"] if r[col["stream"]] == "motion" and r[col["words"]])
    page, problems = _open(browser, base_url, tuned[col["page"]])
    polar = page.locator("svg.atlas-polar")
    box = polar.bounding_box()
    assert box and box["width"] > 150 and box["height"] > 150
    assert polar.locator("polygon.atlas-polar-speed").count() == 5
    assert polar.locator("line.atlas-polar-preferred").count() == 1
    assert page.locator("svg[aria-label^='Speed tuning']").bounding_box()["width"] > 200
    assert "prefers" in page.locator(".atlas-tuning-words").text_content()
    assert problems == []
    page.context.close()


def test_grid_panels_are_large_and_column_labels_stay_on_phones(browser: object, base_url: str) -> None:
    page, problems = _open(browser, base_url, PAGES["layer"], viewport={"width": 1280, "height": 900})
    width = page.locator(".atlas-thumb img").first.bounding_box()["width"]
    assert width / 3 >= 128, (
        f"a grid thumbnail panel is {width / 3:.0f} px wide"
    )  # appearance | wheel | x,y,mag
    page.context.close()
    import json

    index = json.loads((BUILT["site"] / "data/unit-index.json").read_text(encoding="utf-8"))
    col = {name: i for i, name in enumerate(index["columns"])}
    live = next(
        r for r in index["rows"] if r[col["stream"]] == "motion" and not r[col["dead"]]
    )  # it has clips
    phone, problems_phone = _open(
        browser,
        base_url,
        live[col["page"]],
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    heads = phone.locator(".atlas-chis").first.locator(".atlas-chi-head .atlas-key")
    assert heads.count() >= 1 and all(heads.nth(i).is_visible() for i in range(heads.count()))
    clip = phone.locator("video[data-click-play]").first
    clip.scroll_into_view_if_needed()
    clip.click()
    phone.wait_for_function(
        "() => { const v = document.querySelector('video[data-click-play]'); return v && !v.paused; }",
        timeout=15_000,
    )
    assert problems == [] and problems_phone == []
    phone.context.close()
