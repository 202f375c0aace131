"""Unit pages from shared shells: MkDocs renders one page per page shape, the rest is substitution.

MkDocs spends about 8 ms on every page (Markdown, search indexing, the Material page template),
two minutes for the 17,000 unit pages of a paper-sized model, although unit pages of one folder
differ only in a few values: the title and OpenGraph fields, the heading's text and a few
paragraphs of raw HTML. So each unit page's source is split into its *shape* (the Markdown with
those values replaced by tokens) and its values. MkDocs renders one *shell* page per shape and
folder (a few dozen pages); afterwards every unit page is its shell's HTML with the tokens
replaced by the unit's values, its search entries are made by the search plugin's own indexer,
and the sitemap lists it in place of the shell. The result is the page MkDocs would have built
(a test compares every byte); a page whose values are not plain enough to substitute safely
is given to MkDocs whole.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from generator.site.escape import safe_title
from generator.site.mkdocs_hooks import SHELL_KEY, shell_file, unwrap
from generator.site.pages import Page, front_matter
from generator.site.parallel import shard_of
from generator.site.paths import output_file, page_url

PARTS_DIR = "unit_parts"  # beside the docs folder: each shaped unit page's values and blocks
_TOKEN = "ATLASSHELL{}Z"
_STEM = "ATLASSHELLPAGE{}Z"  # a shell's file name (plan_shells skips one a unit page has)
_ANY_TOKEN = re.compile(r"<!--ATLASSHELL(\d+)Z-->|ATLASSHELL(\d+)Z|ATLASSHELLPAGE\d+Z")
# Values a theme prints raw, escaped or tag-stripped alike: no HTML specials, single spaces.
_PLAIN = re.compile(r"[^<>&\"'\s]+(?: [^<>&\"'\s]+)*")
# Heading text that Markdown's inline processing passes unchanged: plain characters and
# numeric character references (md_escape writes Markdown's specials as those).
_INLINE = re.compile(
    r"(?:[A-Za-z0-9,.:;()/+\-]|&#\d+;|[^\x00-\x7f\s])+(?: (?:[A-Za-z0-9,.:;()/+\-]|&#\d+;|[^\x00-\x7f\s])+)*"
)
_H1 = re.compile(r"# (.+) \{ #([A-Za-z][A-Za-z0-9_-]*) \}")
_RAW = re.compile(r"<p[ >][^\n]*</p>")
_STEM_OK = re.compile(r"[A-Za-z0-9._-]+")
_SEARCH_ATTRIBUTES = re.compile(r"\s?data-search-\w+=\"[^\"]+\"")  # as the search plugin removes them
_URL_BLOCK = re.compile(r"\n?[ \t]*<url>.*?</url>", re.S)
T = TypeVar("T")
# MkDocs' page-level plugins could change a shell in ways substitution would not repeat.
SHELL_PLUGINS = frozenset({"search"})


@dataclass(frozen=True)
class Shape:
    """A unit page split into its shape (shell Markdown with tokens) and the values of its tokens."""

    source: str
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:16]


def shells_usable(config: Mapping[str, Any], texts: Iterable[str] = ()) -> bool:
    """Whether substitution reproduces this configuration's pages: the Material theme with no
    plugin but its search (another plugin could treat each page differently), and no token in
    ``texts``, what every page prints (names from the manifest, the site's title)."""
    if any("ATLASSHELL" in text for text in texts):
        return False
    theme = config.get("theme") or {}
    if (theme.get("name") if isinstance(theme, Mapping) else theme) != "material":
        return False
    names = set()
    for plugin in config.get("plugins") or []:
        names.update(plugin if isinstance(plugin, Mapping) else [plugin])
    return names <= SHELL_PLUGINS


def shape(page: Page, body: str) -> Shape | None:
    """Split a unit page (its Markdown ``body`` after the HTML blocks were taken out) into shape and
    values; None when a value is not plain enough to substitute into MkDocs' output safely."""
    if "ATLASSHELL" in body or any("ATLASSHELL" in str(v) for v in (page.title, *page.meta.values())):
        return None
    if not page.src.endswith(".md") or not _STEM_OK.fullmatch(page.src.rsplit("/", 1)[-1][: -len(".md")]):
        return None
    values: list[str] = []

    def token(value: str) -> str:
        values.append(value)
        return _TOKEN.format(len(values) - 1)

    fields = [safe_title(page.title), *page.meta.values()]
    if not all(isinstance(v, str) and _PLAIN.fullmatch(v) for v in fields):
        return None
    tokenized = replace(
        page,
        title=token(safe_title(page.title)),
        meta={key: token(str(value)) for key, value in page.meta.items()},
    )
    blocks = body.split("\n\n")
    shaped_blocks = []
    for block in blocks:
        if block.startswith("# "):  # the title heading: its text a value, its anchor fixed
            heading = _H1.fullmatch(block.rstrip("\n"))
            if heading is None or not _INLINE.fullmatch(heading.group(1)):
                return None
            shaped_blocks.append(f"# {token(heading.group(1))} {{ #{heading.group(2)} }}")
        elif _RAW.fullmatch(block) and "markdown=" not in block and "<!--" not in block:
            shaped_blocks.append(f"<!--{token(block)}-->")
        else:
            shaped_blocks.append(block)
    source = front_matter(tokenized, {SHELL_KEY: True}) + "\n\n".join(shaped_blocks)
    return Shape(source, tuple(values))


def shell_page(folder: str, number: int) -> str:
    """Source path of a shell page in a unit folder (the same depth as its units' pages)."""
    return f"{folder}/{_STEM.format(number)}.md"


def parts_file(docs_dir: Path, src: str) -> Path:
    return Path(docs_dir).parent / PARTS_DIR / f"{src}.json"


def _toc_items(tree: Sequence[Mapping[str, Any]]) -> list[SimpleNamespace]:
    return [SimpleNamespace(**(dict(i) | {"children": _toc_items(i["children"])})) for i in tree]


def _substitute(text: str, values: Sequence[str], stem: str, raw: Callable[[str], str] = lambda v: v) -> str:
    def put(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return raw(values[int(match.group(1))])
        if match.group(2) is not None:
            return values[int(match.group(2))]
        return stem

    return _ANY_TOKEN.sub(put, text)


@dataclass(frozen=True)
class Shell:
    """A rendered shell: the page MkDocs wrote, its Markdown output before search indexing, and
    its table of contents."""

    html: str
    content: str
    toc: list[SimpleNamespace]


def load_shell(docs_dir: Path, site_dir: Path, src: str, directory_urls: bool) -> Shell:
    saved = json.loads(shell_file(docs_dir, src).read_text(encoding="utf-8"))
    html = (Path(site_dir) / output_file(src, directory_urls)).read_text(encoding="utf-8")
    return Shell(html, saved["content"], _toc_items(saved["toc"]))


def unit_html(shell: Shell, values: Sequence[str], blocks: list[str] | None, stem: str) -> str:
    """A unit's page: its shell with the unit's values in place of the tokens (raw HTML as the
    search plugin leaves it) and its HTML blocks put back, as the site's MkDocs hook does."""
    return unwrap(_substitute(shell.html, values, stem, lambda v: _SEARCH_ATTRIBUTES.sub("", v)), blocks)


def search_entries(
    shell: Shell, values: Sequence[str], stem: str, url: str, meta: Mapping[str, Any]
) -> list[dict]:
    """The search plugin's entries for a unit's page, made by the plugin's own indexer from the
    unit's Markdown output (before its HTML blocks go back in, as MkDocs indexes it)."""
    from material.plugins.search.plugin import SearchIndex  # MkDocs' side; only needed here

    index = SearchIndex()
    page = SimpleNamespace(
        content=_substitute(shell.content, values, stem),
        toc=shell.toc,
        url=url,
        meta=dict(meta),
        title=meta["title"],
    )
    index.add_entry_from_context(page)
    return index.entries


@dataclass(frozen=True)
class ShellPlan:
    """Which shell renders which unit pages."""

    units: dict[str, list[str]]  # shell source path -> the unit pages' source paths

    def pages(self) -> int:
        return sum(len(v) for v in self.units.values())


def plan_shells(
    shaped: Iterable[tuple[str, str]], sources: Mapping[str, str], taken: set[str]
) -> tuple[ShellPlan, dict[str, str]]:
    """Group unit pages ``(src, shape key)`` into shells by folder and shape; returns the plan and
    each shell's Markdown (from ``sources``: shape key -> shell source). Shells are numbered in
    sorted order, so the plan does not depend on how the pages were shared out."""
    groups: dict[tuple[str, str], list[str]] = {}
    for src, key in shaped:
        groups.setdefault((src.rsplit("/", 1)[0], key), []).append(src)
    units: dict[str, list[str]] = {}
    markdown: dict[str, str] = {}
    number = 0
    for (folder, key), members in sorted(groups.items()):
        while (src := shell_page(folder, number)) in taken:
            number += 1
        number += 1
        units[src] = sorted(members)
        markdown[src] = sources[key]
    return ShellPlan(units), markdown


def write_part(docs_dir: Path, src: str, page: Page, values: Sequence[str], blocks: list[str]) -> None:
    """Keep a shaped unit page's values, front matter and HTML blocks for :func:`fill_units`."""
    meta = (
        {"title": safe_title(page.title)} | ({"hide": list(page.hide)} if page.hide else {}) | dict(page.meta)
    )
    path = parts_file(docs_dir, src)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"values": list(values), "meta": meta, "blocks": blocks}), encoding="utf-8")


def fill_units(
    plan: ShellPlan,
    docs_dir: Path,
    mkdocs_dir: Path,
    site_dir: Path,
    directory_urls: bool,
    shard: int,
    shards: int,
) -> list[tuple[str, list[dict]]]:
    """Write this shard's unit pages into ``site_dir`` from their shells (rendered into
    ``mkdocs_dir``); returns each page's source path and search entries."""
    shells: dict[str, Shell] = {}
    found = []
    pairs = [(shell, src) for shell, members in plan.units.items() for src in members]
    for shell_src, src in shard_of(pairs, shard, shards):
        shell = shells.get(shell_src)
        if shell is None:
            shell = shells[shell_src] = load_shell(docs_dir, mkdocs_dir, shell_src, directory_urls)
        part = json.loads(parts_file(docs_dir, src).read_text(encoding="utf-8"))
        stem = src.rsplit("/", 1)[-1][: -len(".md")]
        html = unit_html(shell, part["values"], part["blocks"] or None, stem)
        target = os.path.join(site_dir, output_file(src, directory_urls))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(html)
        found.append(
            (src, search_entries(shell, part["values"], stem, page_url(src, directory_urls), part["meta"]))
        )
    return found


def _folder(url: str) -> str:
    return url.rstrip("/").rpartition("/")[0]


def _file_key(url: str, directory_urls: bool) -> tuple[bool, str]:
    """MkDocs' order of the files of one folder (an ``index`` or ``README`` first, then by name)."""
    name = url.rstrip("/").rpartition("/")[2]
    name = f"{name}.md" if directory_urls else f"{name[: -len('.html')]}.md"
    return (os.path.splitext(name)[0] not in ("index", "README"), name)


def build_order(
    items: Sequence[tuple[str, T]],
    units: Mapping[str, Sequence[tuple[str, Sequence[T]]]],
    directory_urls: bool,
) -> list[T]:
    """What MkDocs would have listed had it built the unit pages itself: ``items`` are (page URL,
    item) in MkDocs' order, and ``units`` gives each shell's URL its units' (URL, items). Each
    shell's items give way to its units', and the pages of a folder holding shells are put in
    MkDocs' file order (MkDocs lists a folder's pages together)."""
    folders = {_folder(url) for url in units}
    pages: dict[str, dict[str, list[T]]] = {}
    for url, item in items:
        folder = _folder(url)
        if folder not in folders:
            continue
        here = pages.setdefault(folder, {})
        if url in units:
            for unit_url, unit_items in units[url] if url not in here else ():
                here[unit_url] = list(unit_items)
            here.setdefault(url, [])  # seen: the shell's own items are dropped
        else:
            here.setdefault(url, []).append(item)
    ordered: list[T] = []
    done: set[str] = set()
    for url, item in items:
        folder = _folder(url)
        if folder not in folders:
            ordered.append(item)
        elif folder not in done:
            done.add(folder)
            for page in sorted(
                (u for u in pages[folder] if u not in units), key=lambda u: _file_key(u, directory_urls)
            ):
                ordered.extend(pages[folder][page])
    return ordered


def finish_shells(
    plan: ShellPlan, mkdocs_dir: Path, directory_urls: bool, entries: Mapping[str, list[dict]]
) -> None:
    """List the unit pages where MkDocs would have: in the search index and the sitemap, in
    place of their shells; then remove the shells' own pages."""
    shell_urls = {page_url(shell, directory_urls): members for shell, members in plan.units.items()}
    index_path = Path(mkdocs_dir) / "search" / "search_index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        units = {
            url: [(page_url(src, directory_urls), entries.get(src, [])) for src in members]
            for url, members in shell_urls.items()
        }
        found = [(entry["location"].partition("#")[0], entry) for entry in index["docs"]]
        index["docs"] = build_order(found, units, directory_urls)
        index_path.write_text(json.dumps(index, separators=(",", ":"), default=str), encoding="utf-8")
    sitemap = Path(mkdocs_dir) / "sitemap.xml"
    if sitemap.is_file():
        text = sitemap.read_text(encoding="utf-8")
        blocks = list(_URL_BLOCK.finditer(text))
        if blocks:
            locs = [re.search(r"<loc>(.*?)</loc>", b.group(0), re.S) for b in blocks]
            prefix = ""
            for loc in locs:
                url = next((u for u in shell_urls if loc and loc.group(1).endswith(u)), None)
                if url is not None:
                    prefix = loc.group(1)[: -len(url)]
                    break
            items = [
                (loc.group(1)[len(prefix) :] if loc and loc.group(1).startswith(prefix) else "", b.group(0))
                for b, loc in zip(blocks, locs)
            ]
            units = {}
            for url, block in items:
                if url in shell_urls and url not in units:
                    units[url] = [
                        (page_url(src, directory_urls), [block.replace(url, page_url(src, directory_urls))])
                        for src in shell_urls[url]
                    ]
            body = "".join(build_order(items, units, directory_urls))
            text = text[: blocks[0].start()] + body + text[blocks[-1].end() :]
        sitemap.write_text(text, encoding="utf-8")
        packed = sitemap.with_name("sitemap.xml.gz")
        if packed.is_file():
            mtime = int.from_bytes(packed.read_bytes()[4:8], "little")
            with (
                open(packed, "wb") as handle,
                gzip.GzipFile(fileobj=handle, filename=str(packed), mode="wb", mtime=mtime) as stream,
            ):  # as MkDocs writes it: named, dated by the build
                stream.write(text.encode("utf-8"))
    for shell in plan.units:
        target = Path(mkdocs_dir) / output_file(shell, directory_urls)
        target.unlink(missing_ok=True)
        if directory_urls:
            try:
                target.parent.rmdir()
            except OSError:
                pass
