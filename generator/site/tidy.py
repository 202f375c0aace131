"""Leave out of the built site what it never uses: the theme's source maps, and the search
language bundles of languages the site does not index.

Material ships a ``.map`` beside each minified file (for its own developers) and lunr
stemmers for thirty languages; the search worker loads a language bundle only for a
configured language other than English, so an English-only site needs none of them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

LUNR_DIR = "assets/javascripts/lunr"
_MAP_COMMENT = re.compile(rb"\n?/[/*][#@] sourceMappingURL=[^\n]*?(\*/)?\s*$")


def search_languages(config: dict[str, Any]) -> list[str]:
    """The languages the search plugin indexes (its ``lang`` option, else the theme's language)."""
    for plugin in config.get("plugins") or []:
        if isinstance(plugin, dict) and "search" in plugin:
            lang = (plugin["search"] or {}).get("lang")
            if lang:
                return [lang] if isinstance(lang, str) else list(lang)
    return [str((config.get("theme") or {}).get("language") or "en")]


def tidy_site(site_dir: Path, config: dict[str, Any]) -> int:
    """Remove source maps (and the comments naming them) and unused search language bundles;
    return how many files were removed."""
    removed = 0
    assets = Path(site_dir) / "assets"
    for path in list(assets.rglob("*.map")):
        path.unlink()
        removed += 1
    for path in list(assets.rglob("*.min.js")) + list(assets.rglob("*.min.css")):
        text = path.read_bytes()
        cleaned = _MAP_COMMENT.sub(b"\n", text)
        if cleaned != text:
            path.write_bytes(cleaned)
    lunr = Path(site_dir) / LUNR_DIR
    if lunr.is_dir() and all(lang == "en" for lang in search_languages(config)):
        removed += sum(1 for p in lunr.rglob("*") if p.is_file())
        shutil.rmtree(lunr)
    return removed
