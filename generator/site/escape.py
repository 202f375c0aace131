"""Escaping names for pages: Markdown + HTML text, page titles, BibTeX keys.

Names come from user models and data sets, so a class may be called ``<script>`` or
``A|B``. Every value interpolated into a page goes through :func:`md_escape`: HTML's
special characters become entities and so do the characters that mean something to
Markdown (``|`` would split a table cell, ``*`` start emphasis, ``[`` a link); entities
are inert in Markdown and decode back to the same text in the browser, in raw HTML and in
attributes alike. Page titles are not escaped by the theme's templates, so they only ever
hold :func:`safe_title` text.
"""

from __future__ import annotations

import html
import re

from markupsafe import Markup

_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    **{c: f"&#{ord(c)};" for c in "\\`*_{}[]|#~!+$^="},
}
_TABLE = str.maketrans(_ENTITIES)
_UNSAFE_TITLE = re.compile(r"[^A-Za-z0-9 _.,:;()/+\-]")


def md_escape(value: object) -> Markup:
    """Text safe in Markdown prose, table cells, raw HTML and attribute values."""
    if isinstance(value, Markup):
        return value
    return Markup(str(value).translate(_TABLE))


def html_text(value: object) -> str:
    """Text for a template that prints it raw (MkDocs' theme: site_name, copyright): HTML's
    special characters, quotes included, become entities."""
    return html.escape(str(value), quote=True)


def safe_title(text: str) -> str:
    """A page/nav title with only harmless characters (others become ``_``)."""
    return _UNSAFE_TITLE.sub("_", text).strip() or "_"


def bibtex_key(unit_id: str) -> str:
    """A BibTeX key from a unit id: ``motion/conv3_1/0017`` -> ``atlas-motion-conv3-1-0017``."""
    return "atlas-" + (re.sub(r"[^A-Za-z0-9]+", "-", unit_id).strip("-") or "unit")


def bibtex_text(value: str) -> str:
    """A value safe inside BibTeX braces (braces and backslashes would unbalance the entry)."""
    return re.sub(r"[{}\\]", "", value)
