"""Where every page and file of the site lives, and the relative links between them.

A page is named by its Markdown source path inside the generated docs folder; its URL
follows from that path alone (``units/<unit id>.md`` is served at ``units/<unit id>/``), so
rebuilding the same model keeps every URL. Every path built from a name goes through
:func:`~generator.store.keys.safe_segment` / :func:`~generator.store.keys.unit_path` and is
checked by :func:`inside` before anything is written. Media of the atlas are served under
``files/`` with their atlas-relative paths.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from generator.errors import AtlasError
from generator.store.keys import safe_segment, unit_path

FILES_DIR = "files"
_URL_SAFE = re.compile(r"[A-Za-z0-9/._~-]*")


_RESERVED = ("index", "readme")  # MkDocs makes index.md / README.md the page of their folder


def _page(folder: str, path: str) -> str:
    head, _, last = path.rpartition("/")
    if last.lower() in _RESERVED:
        last += "_"
    return f"{folder}/{head + '/' if head else ''}{last}.md"


@functools.lru_cache(maxsize=1 << 16)  # asked for each unit's every medium, link and card
def unit_page(unit_id: str) -> str:
    """Source path of a unit's page, e.g. ``units/motion/conv3_1/0017.md``."""
    return _page("units", unit_path(unit_id))


def layer_page(layer: str) -> str:
    """Source path of a layer's page, e.g. ``layers/motion/conv3_1.md``."""
    return _page("layers", unit_path(layer))


def class_page(class_name: str) -> str:
    """Source path of a class's page, e.g. ``classes/Billiards.md``."""
    return _page("classes", safe_segment(class_name))


def failure_page(slug: str) -> str:
    """Source path of a failure case's write-up."""
    return _page("failures", safe_segment(slug))


def unit_folder(unit_id: str) -> str:
    """Site folder of a unit's own files (media, JSON twin, embed view), e.g.
    ``units/motion/conv3_1/0017``: the unit's permalink without its trailing slash, the same
    with and without directory URLs."""
    return unit_page(unit_id)[: -len(".md")]


def chi_segment(chi: float) -> str:
    """The folder (and page anchor) of one chi, e.g. ``chi-10`` or ``chi-0.1``."""
    return f"chi-{float(chi):g}".replace("+", "")


def visualization_file(
    unit_id: str, chi: float, seed: int, first_seed: bool, name: str, view: str = "joint"
) -> str:
    """Stable site path of one visualization file, e.g. ``units/motion/conv3_1/0017/chi-10/colorwheel.mp4``.

    The path names only the unit, chi (and seed, beyond the first), the view (a per-stream view
    gets its own folder, e.g. ``chi-10/appearance_only/``) and the kind of file, never the settings
    hash that the atlas folder stores it under, so a link survives a rebuild with other settings."""
    seed_part = "" if first_seed else f"/seed-{int(seed)}"
    view_part = "" if view == "joint" else f"/{safe_segment(view)}"
    return f"{unit_folder(unit_id)}/{chi_segment(chi)}{seed_part}{view_part}/{safe_segment(name)}"


def media_file(atlas_path: str) -> str:
    """Site path of an atlas media file given by its atlas-relative path (checked to stay inside)."""
    return f"{FILES_DIR}/{relative_inside(atlas_path)}"


# A relative path of plain segments, none "." or "..": already clean (the common case, checked fast).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


def relative_inside(path: str) -> str:
    """``path`` as a clean relative POSIX path; AtlasError if it is absolute or climbs out with ``..``."""
    if _PLAIN_PATH.fullmatch(path):
        return path
    pure = PurePosixPath(path.replace("\\", "/"))
    if (
        not path
        or pure.is_absolute()
        or any(part in ("..", "") for part in pure.parts)
        or ":" in pure.parts[0]
    ):
        raise AtlasError(
            f"Path {path!r} in the atlas tables must be relative to the atlas folder, without '..'."
        )
    return pure.as_posix()


def inside(base: Path, relative: str) -> Path:
    """``base / relative`` after checking that it stays inside ``base``."""
    return Path(base) / relative_inside(relative)


def page_url(src: str, directory_urls: bool = True) -> str:
    """The URL path (relative to the site root) at which page ``src`` is served."""
    stem = src[: -len(".md")] if src.endswith(".md") else src
    if not directory_urls:
        return f"{stem}.html"
    if stem == "index":
        return ""
    if stem.endswith("/index"):
        return stem[: -len("index")]
    return f"{stem}/"


def output_file(src: str, directory_urls: bool = True) -> str:
    """The HTML file (relative to the site root) that page ``src`` becomes."""
    url = page_url(src, directory_urls)
    return f"{url}index.html" if url == "" or url.endswith("/") else url


def link(from_src: str, target: str, directory_urls: bool = True) -> str:
    """Relative URL from page ``from_src`` to ``target``: another page's source path (``*.md``)
    or a site file path (e.g. ``files/media/...mp4``)."""
    return linker(from_src, directory_urls)(target)


def linker(from_src: str, directory_urls: bool = True) -> Callable[[str], str]:
    """:func:`link` from page ``from_src``, as a function of the target (a page links a hundred times)."""
    here = page_url(from_src, directory_urls)
    base = here.split("/")[:-1]  # the folder the page is served from ("a/b/" -> [a, b]; "a/b.html" -> [a])

    def to(target: str) -> str:
        return _relative_link(base, target, directory_urls)

    return to


def _relative_link(base: list[str], target: str, directory_urls: bool) -> str:
    to = page_url(target, directory_urls) if target.endswith(".md") else target
    parts = to.split("/")
    common = 0
    while common < min(len(base), len(parts) - 1) and base[common] == parts[common]:
        common += 1
    rel = "../" * (len(base) - common) + "/".join(parts[common:])
    rel = rel or "./"
    return rel if _URL_SAFE.fullmatch(rel) else quote(rel, safe="/.-_~")
