"""MkDocs hook of the atlas site: put the pages' pre-rendered HTML blocks back, and render the
navigation once for the thousands of pages outside it.

Generated pages keep their heavy HTML (video grids, tables, unit cards) out of the Markdown:
each block is written to a side file (``<docs_dir>/../blocks/<page>.html``) and
the Markdown holds a one-line ``<!--atlas:block N-->`` comment in its place. Markdown passes a
comment through untouched and the search plugin skips it, so MkDocs parses and indexes only a
skeleton of headings and prose (the part worth indexing), even for pages with thousands of
units. After the search plugin has indexed a page, this hook puts each block in place of its
comment. (Blocks written inline as ``<!--atlas:html ... atlas:end-->`` comments are unwrapped
too.) MkDocs loads the hook through the ``hooks:`` setting of the generated configuration.

The theme's navigation (sidebar and tabs) is the same for every page that is not in it (unit
and class pages) up to its relative links, so the site theme's ``partials/nav.html`` and
``partials/tabs.html`` render Material's own partial once per relative root (``base_url``) for
those pages and reuse it: Material would render it anew for each of 17,000 unit pages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
from mkdocs.plugins import event_priority

BLOCKS_DIR = "blocks"  # beside the docs folder
_START, _END = "<!--atlas:html\n", "\natlas:end-->"
_BLOCK = re.compile(r"<!--atlas:html\n(.*?)\natlas:end-->", re.S)
_PLACEHOLDER = re.compile(r"<!--atlas:block (\d+)-->")
SHELL_KEY = "atlas_shell"  # front-matter flag of a unit page shell (generator.site.unit_shells)
SHELLS_DIR = "shells"  # beside the docs folder: what is kept of each shell
THEME_PREFIX = "material"  # templates of the base theme, reachable under this prefix when overridden


def blocks_file(docs_dir: Path | str, src_uri: str) -> Path:
    """Where the HTML blocks of the page ``src_uri`` of ``docs_dir`` are kept."""
    return Path(docs_dir).parent / BLOCKS_DIR / f"{src_uri}.html"


def shell_file(docs_dir: Path | str, src_uri: str) -> Path:
    """Where a unit page shell's Markdown output and table of contents are kept."""
    return Path(docs_dir).parent / SHELLS_DIR / f"{src_uri}.json"


def split_blocks(markdown: str) -> tuple[str, list[str]]:
    """The page's Markdown with each ``<!--atlas:html ... atlas:end-->`` block replaced by a
    one-line ``<!--atlas:block N-->`` comment, and the blocks (N indexes them)."""
    if _START not in markdown:
        return markdown, []
    parts, blocks, position = [], [], 0
    while (start := markdown.find(_START, position)) >= 0:
        end = markdown.find(_END, start + len(_START))
        if end < 0:
            break
        parts += [markdown[position:start], f"<!--atlas:block {len(blocks)}-->"]
        blocks.append(markdown[start + len(_START) : end])
        position = end + len(_END)
    parts.append(markdown[position:])
    return "".join(parts), blocks


def join_blocks(blocks: list[str]) -> str:
    """The blocks as one text (split by :func:`read_blocks`): joined by the end marker, which no
    block holds (each ended at its first one)."""
    return _END.join(blocks)


def read_blocks(text: str) -> list[str]:
    return text.split(_END)


def unwrap(html: str, blocks: list[str] | None = None) -> str:
    """Put each ``<!--atlas:block N-->`` comment's block in its place and unwrap every
    ``<!--atlas:html ... atlas:end-->`` comment."""
    if blocks and "<!--atlas:block " in html:
        html = _PLACEHOLDER.sub(lambda match: blocks[int(match.group(1))], html)
    return _BLOCK.sub(lambda match: match.group(1), html) if "<!--atlas:html" in html else html


def _read_blocks(config: Any, src_uri: str) -> list[str] | None:
    try:
        return read_blocks(blocks_file(config["docs_dir"], src_uri).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Keep a shell page's Markdown output (before search indexing) and table of contents for
    the unit pages made from it (:mod:`generator.site.unit_shells`)."""
    if page.meta.get(SHELL_KEY):
        tree = _toc_tree(page.toc)
        target = shell_file(config["docs_dir"], page.file.src_uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"content": html, "toc": tree}), encoding="utf-8")
    return html


def _toc_tree(toc: Any) -> list[dict[str, Any]]:
    return [
        {"id": i.id, "url": i.url, "title": i.title, "level": i.level, "children": _toc_tree(i.children)}
        for i in toc
    ]


@event_priority(-100)  # after the search plugin (priority 0) has read the page
def on_page_context(context: dict[str, Any], page: Any, config: Any, nav: Any) -> dict[str, Any]:
    content = page.content or ""
    page.content = unwrap(
        content, _read_blocks(config, page.file.src_uri) if "<!--atlas:block " in content else None
    )
    return context


class FragmentCache:
    """Theme fragments rendered once per key (``atlas_fragments`` in the templates)."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str], str] = {}
        self._nav: dict[int, tuple[frozenset[int], tuple[tuple[str, ...], ...]]] = {}

    def _members(self, nav: Any) -> tuple[frozenset[int], tuple[tuple[str, ...], ...]]:
        """The navigation's pages (by identity) and the path parts of every URL it links to."""
        found = self._nav.get(id(nav))
        if found is None:
            urls, stack = [], list(nav.items)
            while stack:
                item = stack.pop()
                stack.extend(getattr(item, "children", None) or ())
                if getattr(item, "url", None) is not None:
                    urls.append(_parts(item.url))
            found = self._nav[id(nav)] = (frozenset(id(p) for p in nav.pages), tuple(urls))
        return found

    def key(self, name: str, page: Any, nav: Any) -> tuple[str, str] | None:
        """The cache key of fragment ``name`` on ``page``, or None where it cannot be shared.

        The navigation of a page outside it has nothing active, so it differs between such
        pages only in its links, which MkDocs makes relative to the page's folder: pages whose
        folders share their parent get the same links unless one links into a page's own
        folder. Those pages share one key, the parent folder."""
        if page is None or nav is None or getattr(page, "url", None) is None:
            return None
        pages, urls = self._members(nav)
        folder = _folder(page.url)
        if id(page) in pages or not folder or any(url[: len(folder)] == folder for url in urls):
            return None
        return name, "/".join(folder[:-1]) + "/"

    def get(self, key: tuple[str, str] | None) -> str | None:
        return self._done.get(key) if key else None

    def put(self, key: tuple[str, str] | None, html: str) -> str:
        if key:
            self._done[key] = html
        return html


def _parts(url: str) -> tuple[str, ...]:
    return tuple(part for part in url.split("/") if part and part != ".")


def _folder(url: str) -> tuple[str, ...]:
    """The folder MkDocs makes a page's links relative to (its URL less a file name)."""
    head, _, last = url.rpartition("/")
    return _parts(head if "." in last else url)


def on_env(env: jinja2.Environment, config: Any, files: Any) -> jinja2.Environment:
    """Make the base theme's templates reachable as ``material/...`` (the site theme's partials
    wrap them) and give the templates the fragment cache."""
    custom = config["theme"].custom_dir
    base_dirs = [d for d in config["theme"].dirs if d != custom]
    env.loader = jinja2.ChoiceLoader(
        [env.loader, jinja2.PrefixLoader({THEME_PREFIX: jinja2.FileSystemLoader(base_dirs)})]
    )
    env.globals["atlas_fragments"] = FragmentCache()
    return env
