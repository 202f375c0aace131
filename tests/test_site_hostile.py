"""Hostile values in every field that reaches a page: configuration (site.title, site.author),
manifest (model name and description) and model (class names). None may become live HTML."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from generator.site.build import render_site
from generator.site.serve import serving
from generator.store.manifest import manifest_path
from generator.store.parquet import read_table
from generator.store.schema import table_path
from generator.store.table_set import write_table_set
from tests.support.site_data import make_fake_atlas

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
ATTRIBUTE = '" onmouseover="alert(1)'
PAYLOADS = (SCRIPT, IMAGE, ATTRIBUTE)
CLASSES = [
    "Billiards",
    "PlayingCello",
    "PlayingViolin",
    "BrushingTeeth",
    f"Class{IMAGE}",
    f"Class{ATTRIBUTE}",
]
LAYERS = [("appearance/conv1_1", 2), ("motion/conv1_1", 2), ("class", 0)]


class _LiveHtml(HTMLParser):
    """Collects what a browser would run: event-handler attributes and script bodies calling alert."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.found.append("<img src=x>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert(" in data:
            self.found.append(f"<script>{data[:40]}")


def live_payloads(html: str) -> list[str]:
    parser = _LiveHtml()
    parser.feed(html)
    return parser.found


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    atlas = make_fake_atlas(root / "atlas", LAYERS, [1.0], CLASSES, with_media=True, seed=2, hostile=True)
    # A shared atlas folder's manifest is as untrusted as the configuration.
    path = manifest_path(atlas)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["model"]["name"] = f"m{SCRIPT}{ATTRIBUTE}"
    manifest["model"]["card"]["model"] = f"described {IMAGE} {ATTRIBUTE} {SCRIPT}"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    write_table_set(atlas)
    return render_site(
        atlas, root / "site", title=f"Atlas {SCRIPT} {ATTRIBUTE}", author=f"Eve {IMAGE} {ATTRIBUTE}"
    )


def test_the_parser_finds_what_a_browser_would_run() -> None:
    assert live_payloads(f"<p>{SCRIPT}</p>") and live_payloads(f"<p>{IMAGE}</p>")
    assert live_payloads(f'<a title="{ATTRIBUTE}">x</a>')
    assert not live_payloads("<p>&lt;script&gt;alert(1)&lt;/script&gt; &quot; onmouseover=&quot;</p>")


def test_no_page_holds_a_live_payload(hostile_site: Path) -> None:
    pages = sorted(hostile_site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        assert live_payloads(page.read_text(encoding="utf-8")) == [], page
    home = (hostile_site / "index.html").read_text(encoding="utf-8")
    # The payloads are shown as text: escaped once in the page, not dropped.
    assert "Atlas &lt;script&gt;alert(1)&lt;/script&gt;" in home  # site.title
    assert "Eve &lt;img src=x onerror=alert(1)&gt;" in home  # site.author, in the footer
    assert "m&lt;script&gt;alert(1)&lt;/script&gt;" in home  # model name, in the footer


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def served(hostile_site: Path) -> Iterator[str]:
    with serving(hostile_site) as url:
        yield url


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
@pytest.mark.slow
def test_no_dialog_opens_in_chromium(hostile_site: Path, served: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    pages = [p.relative_to(hostile_site).parent.as_posix() for p in sorted(hostile_site.rglob("index.html"))]
    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless"]
        )
        page = browser.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(f"{page.url}: {dialog.message}"), dialog.dismiss()))
        for relative in pages:
            page.goto(served + ("" if relative == "." else relative + "/"))
            # An injected onmouseover would fire here; an injected <img onerror> or <script> fired on load.
            page.evaluate(
                "document.querySelectorAll('*').forEach("
                "e => e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})))"
            )
        browser.close()
    assert dialogs == []


def test_pages_with_unusual_values_are_rendered_whole_and_the_site_is_unchanged(tmp_path: Path) -> None:
    """Unit pages whose values a theme would escape (quotes, markup in class names) are left to
    MkDocs whole; the rest come from shells; and the site, with .html URLs and no site URL, is
    the one MkDocs builds page by page."""
    atlas = make_fake_atlas(
        tmp_path / "atlas", LAYERS, [1.0], CLASSES, with_media=False, seed=2, hostile=True
    )
    trees, logs = [], []
    for shells in (True, False):
        lines: list[str] = []
        site = render_site(
            atlas, tmp_path / f"site-{shells}", directory_urls=False, unit_shells=shells, log=lines.append
        )
        trees.append({p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()})
        logs.append(lines)
    units = read_table(table_path(atlas, "units")).num_rows
    made = [line for line in logs[0] if line.startswith("unit pages:")]
    assert len(made) == 1
    from_shells = int(made[0].split()[2])
    assert 0 < from_shells < units  # some pages were given to MkDocs whole
    assert sorted(trees[0]) == sorted(trees[1])
    assert [name for name in trees[0] if trees[0][name] != trees[1][name]] == []
