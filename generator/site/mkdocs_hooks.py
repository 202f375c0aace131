"""MkDocs hook of the atlas site: unwrap the pages' pre-rendered HTML blocks.

Generated pages carry their heavy HTML (video grids, tables, unit cards) inside
``<!--atlas:html ... atlas:end-->`` comments. Markdown passes a comment through without
parsing its tags, and the search plugin skips comments, so the Markdown stays a cheap
skeleton of headings and prose (the part worth indexing) even for pages with thousands of
units. After the search plugin has indexed a page, this hook turns the comments back into
HTML. MkDocs loads it through the ``hooks:`` setting of the generated configuration.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.plugins import event_priority

_BLOCK = re.compile(r"<!--atlas:html\n(.*?)\natlas:end-->", re.S)


def unwrap(html: str) -> str:
    """Replace every ``<!--atlas:html ... atlas:end-->`` comment by its content."""
    return _BLOCK.sub(lambda match: match.group(1), html) if "<!--atlas:html" in html else html


@event_priority(-100)  # after the search plugin (priority 0) has read the page
def on_page_context(context: dict[str, Any], page: Any, config: Any, nav: Any) -> dict[str, Any]:
    page.content = unwrap(page.content or "")
    return context
