"""Render an atlas folder into a static site: Markdown through Jinja2 templates, then MkDocs.

Stages: read the tables and manifest (:mod:`generator.site.data`); render every page's
Markdown into a staging docs folder, together with the hand-written pages of ``site_src/``;
write a MkDocs configuration derived from the repository's ``mkdocs.yml``; run ``mkdocs
build`` (strict by default) in a subprocess; hard-link (or copy) the media the pages use
into ``files/``; then swap the finished site into place, so a failed build leaves the
previous site untouched. Unit pages are not in the navigation (it is copied into every page
and would make the build quadratic); they are reached from layer pages and search.

Templates write a page's bulky HTML (video grids, tables, cards) in ``<!--atlas:html ...
atlas:end-->`` comments; the page's Markdown keeps a one-line comment in each one's place and
the blocks go to a side file, so MkDocs parses and indexes only titles and prose, and the hook
in :mod:`generator.site.mkdocs_hooks` puts the blocks back after indexing. The same hook
renders the theme's navigation once for all unit pages instead of once per page.

Unit pages go further: MkDocs renders one shell per page shape and folder, and each unit's page
is its shell with the unit's values put in (:mod:`generator.site.unit_shells`), byte for byte
the page MkDocs would have rendered, in a fraction of the time.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from generator.errors import AtlasError
from generator.measures.tuning import arrow, direction_word
from generator.media import colorwheel_legend, write_png
from generator.media.heatmap import legend_gradient
from generator.media.kinds import MEDIA_KINDS
from generator.resources import resource_path
from generator.site.data import AtlasData, load_atlas
from generator.site.downloads import INDEX_FILE, table_downloads, write_downloads, write_unit_index
from generator.site.escape import html_text, md_escape, safe_title
from generator.site.mkdocs_hooks import blocks_file, join_blocks, split_blocks
from generator.site.pages import (
    Page,
    SiteInfo,
    _kinds,
    class_pages,
    common_context,
    failure_pages,
    findings_page,
    front_matter,
    home_page,
    layer_pages,
    unit_pages,
)
from generator.site.parallel import run_shards, shard_of, site_workers
from generator.site.paths import (
    chi_segment,
    class_page,
    failure_page,
    inside,
    layer_page,
    linker,
    relative_inside,
    unit_page,
)
from generator.site.stats import number_label, reliance_sentence
from generator.site.tidy import tidy_site
from generator.site.unit_files import write_unit_files
from generator.site.unit_shells import (
    ShellPlan,
    fill_units,
    finish_shells,
    plan_shells,
    shape,
    shells_usable,
    write_part,
)
from generator.store.atomic import clean_leftovers, owner_tag, write_json

# Package data in an installed wheel, the repository's files in a checkout (generator/resources.py).
TEMPLATES_DIR = resource_path("templates")
PAGES_DIR = resource_path("site_src")
THEME_DIR = resource_path("site_theme")  # Material overrides (OpenGraph tags)
BASE_CONFIG = resource_path("mkdocs.yml")
HOOKS = Path(__file__).with_name("mkdocs_hooks.py")
SITE_MARKER = ".atlas-site.json"
MERGED_PAGES = ("index.md",)  # hand-written pages merged into generated ones (plus failures/<slug>.md)
HOW_TO_READ = "how-to-read.md"
PYTHON_API = "python-api.md"
Log = Callable[[str], None]


# ----------------------------------------------------------------------------- template helpers


def _num(value: Any, digits: int = 2, missing: str = "\u2013") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    return f"{100 * value:.0f}\u00a0%"


def _auto_number(value: Any, key: str) -> str:
    """Format a failure-case number by what its name says it is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "points" in key:
            return f"{value:.1f} points"
        if any(w in key for w in ("rate", "accuracy", "fraction", "errors", "as_")) and 0 <= value <= 1:
            return _pct(value)
        return _num(value, 3)
    return str(value)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    return md_escape(value)


def make_environment(templates_dir: Path) -> jinja2.Environment:
    """The Jinja2 environment of the page templates: every interpolated value is escaped for
    HTML and Markdown (values marked safe with Markup, e.g. SVG plots, pass unchanged)."""
    if not (Path(templates_dir) / "unit.md.j2").is_file():
        raise AtlasError(
            f"Page templates not found in {templates_dir} (expected unit.md.j2 and the others there)."
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=_num, pct=_pct, auto_number=_auto_number)
    env.globals.update(
        unit_page=unit_page,
        layer_page=layer_page,
        class_page=class_page,
        failure_page=failure_page,
        kinds_of=_kinds,
        media_kinds=MEDIA_KINDS,
        number_label=number_label,
        reliance_sentence=reliance_sentence,
        chi_segment=chi_segment,
        arrow=arrow,
        direction_word=direction_word,
        heat_legend=legend_gradient(),
    )
    return env


# ----------------------------------------------------------------------------- sources


def _linker(here: str, directory_urls: bool) -> Callable[[str], Markup]:
    """The templates' ``url(target)``: a relative link from page ``here``. Its output is
    percent-encoded (only ``A-Za-z0-9/._~%-`` remain), so it needs no further escaping."""

    to = linker(here, directory_urls)

    def url(target: str) -> Markup:
        return Markup(to(target))

    return url


def _hand_written(pages_dir: Path | None) -> dict[str, Path]:
    """Hand-written files of site_src/ by relative POSIX path (hidden files skipped)."""
    if pages_dir is None or not Path(pages_dir).is_dir():
        return {}
    found = {}
    for path in sorted(Path(pages_dir).rglob("*")):
        relative = path.relative_to(pages_dir).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in relative.split("/")):
            found[relative] = path
    return found


def _strip_h1(markdown: str) -> str:
    """Hand-written notes may start with their own '# Title'; the page already has one."""
    lines = markdown.lstrip("\ufeff").splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines).strip() + "\n"


def _pages(data: AtlasData, info: SiteInfo, hand: Mapping[str, Path]) -> Iterable[Page]:
    """Every generated page but the unit pages (:func:`generator.site.pages.unit_pages`)."""
    intro = _strip_h1(hand["index.md"].read_text(encoding="utf-8")) if "index.md" in hand else None
    notes = {
        rel[len("failures/") : -len(".md")]: Markup(_strip_h1(path.read_text(encoding="utf-8")))
        for rel, path in hand.items()
        if rel.startswith("failures/") and rel.endswith(".md")
    }
    yield home_page(data, Markup(intro) if intro else None)
    yield from layer_pages(data)
    yield from class_pages(data)
    yield from failure_pages(data, notes)
    yield findings_page(data)
    yield Page(
        "units/index.md",
        "units_index.md.j2",
        "All units",
        {"index_file": INDEX_FILE, "count": len(data.units), "layers": data.layers},
        hide=("toc",),
    )
    yield Page("downloads.md", "downloads.md.j2", "Data", {"tables": table_downloads(data.root)})


def _nav(data: AtlasData, hand: Mapping[str, Path]) -> list[Any]:
    nav: list[Any] = [{"Home": "index.md"}]
    if HOW_TO_READ in hand:
        nav.append({"How to read": HOW_TO_READ})
    nav.append(
        {
            "Layers": ["layers/index.md"]
            + [{safe_title(l["name"]): layer_page(l["name"])} for l in data.layers]
        }
    )
    nav.append({"Classes": "classes/index.md"})
    cases = data.manifest["failure_cases"]
    cases_nav = [{safe_title(c["title"]): failure_page(c["slug"])} for c in cases]
    nav.append({"Failure cases": ["failures/index.md", *cases_nav]})
    nav.append({"Findings": "findings.md"})
    if PYTHON_API in hand:
        nav.append({"Python API": PYTHON_API})
    nav.append({"All units": "units/index.md"})
    nav.append({"Data": "downloads.md"})
    known = (*MERGED_PAGES, HOW_TO_READ, PYTHON_API)
    extra = [rel for rel in hand if rel.endswith(".md") and "/" not in rel and rel not in known]
    nav.extend(sorted(extra))
    return nav


def write_sources(
    data: AtlasData,
    docs_dir: Path,
    info: SiteInfo,
    *,
    templates_dir: Path = TEMPLATES_DIR,
    pages_dir: Path | None = PAGES_DIR,
    workers: int = 1,
    shells: bool = False,
) -> tuple[int, list[Any], ShellPlan | None]:
    """Render every page's Markdown into ``docs_dir`` (the unit pages in ``workers`` processes)
    and copy the hand-written pages and assets. With ``shells``, unit pages that allow it are
    written as shells and values instead (:mod:`generator.site.unit_shells`). Returns (pages
    written, nav, the shell plan or None). The folder is scratch space, so plain writes are
    enough."""
    env = make_environment(templates_dir)
    hand = _hand_written(pages_dir)
    common = common_context(data, info) | {
        "has_how_to_read": HOW_TO_READ in hand,
        "known_classes": data.class_by_name,
        "dims": data.image_sizes,
    }
    templates: dict[str, jinja2.Template] = {}
    made_dirs: set[Path] = set()

    def render(page: Page) -> tuple[str, list[str]]:
        if page.template not in templates:
            templates[page.template] = env.get_template(page.template)
        links = {"url": _linker(page.src, info.directory_urls), "here": page.src}
        return split_blocks(templates[page.template].render(common | page.context | links))

    def write(page: Page, body: str, blocks: list[str]) -> None:
        target = inside(docs_dir, page.src)
        if target.parent not in made_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(target.parent)
        target.write_text(front_matter(page) + body, encoding="utf-8")
        if blocks:
            kept = blocks_file(docs_dir, page.src)
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(join_blocks(blocks), encoding="utf-8")

    def unique(src: str) -> None:
        if src in generated:
            raise AtlasError(f"Two pages of the atlas map to {src}; unit ids and class names must be unique.")
        generated.add(src)

    generated: set[str] = set()
    for page in _pages(data, info, hand):
        unique(page.src)
        write(page, *render(page))
    for unit in data.units:
        unique(unit_page(unit["unit_id"]))

    def write_units(shard: int, shards: int) -> tuple[list[tuple[str, str]], dict[str, str]]:
        shaped: list[tuple[str, str]] = []  # (page, shape key)
        sources: dict[str, str] = {}  # shape key -> shell Markdown
        for page in unit_pages(data, info, shard, shards):
            body, blocks = render(page)
            found = shape(page, body) if shells else None
            if found is None:
                write(page, body, blocks)
                continue
            inside(docs_dir, page.src)  # the same check as for a page written whole
            write_part(docs_dir, page.src, page, found.values, blocks)
            shaped.append((page.src, found.key))
            sources[found.key] = found.source
        return shaped, sources

    written = run_shards(write_units, workers)
    plan = None
    if shells:
        keys = {key: source for _, sources in written for key, source in sources.items()}
        plan, shell_sources = plan_shells((pair for pairs, _ in written for pair in pairs), keys, generated)
        for src, markdown in shell_sources.items():
            target = inside(docs_dir, src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(markdown, encoding="utf-8")
    for relative, path in hand.items():
        if relative in MERGED_PAGES or (relative.startswith("failures/") and relative.endswith(".md")):
            continue
        if relative in generated:
            raise AtlasError(
                f"Hand-written page {path} would replace the generated page {relative}; rename it or remove it."
            )
        target = inside(docs_dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    write_png(colorwheel_legend(96), inside(docs_dir, "assets/colorwheel-legend.png"))
    return len(generated), _nav(data, hand), plan


def read_base_config(base_config: Path) -> dict[str, Any]:
    """The repository's (or the user's) mkdocs.yml, as plain data."""
    try:
        return yaml.safe_load(Path(base_config).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise AtlasError(f"Cannot read the base MkDocs configuration {base_config}: {error}") from None


def mkdocs_config(
    base_config: Path,
    *,
    info: SiteInfo,
    docs_dir: Path,
    site_dir: Path,
    nav: list[Any],
    data: AtlasData,
    strict: bool,
) -> dict[str, Any]:
    """The MkDocs configuration of this build: the repository's mkdocs.yml with the atlas's
    title, URL, folders and navigation filled in."""
    base = read_base_config(base_config)
    model = data.manifest["model"]
    config = dict(base)
    # The theme prints site_name, site_author and copyright into every page without escaping
    # them (Jinja autoescape is off in MkDocs), and they come from the configuration and the
    # manifest: escape them here, once.
    config.update(
        site_name=html_text(info.title),
        site_author=html_text(info.author),
        docs_dir=str(docs_dir),
        site_dir=str(site_dir),
        nav=nav,
        not_in_nav="/units/\n/classes/\n",
        use_directory_urls=info.directory_urls,
        strict=strict,
        copyright=html_text(f"{info.author} \u00b7 model {model['name']} ({str(model['hash'])[:12]})"),
        hooks=[*(base.get("hooks") or []), str(HOOKS)],
    )
    if THEME_DIR.is_dir():
        config["theme"] = dict(base.get("theme") or {"name": "material"}) | {"custom_dir": str(THEME_DIR)}
    if info.site_url:
        config["site_url"] = info.site_url
    else:
        config.pop("site_url", None)
    config["extra"] = dict(base.get("extra") or {}) | {
        "atlas": {"model": html_text(model["name"]), "model_hash": html_text(model["hash"])}
    }
    return config


def start_mkdocs(config_file: Path, strict: bool, output: Path) -> subprocess.Popen[bytes]:
    """Start ``mkdocs build`` in a subprocess (isolates MkDocs' global logging and plugin
    state), its output going to the file ``output``; :func:`finish_mkdocs` waits for it."""
    command = [sys.executable, "-m", "mkdocs", "build", "--quiet", "--config-file", str(config_file)]
    if strict:
        command.append("--strict")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="ignore")
    with open(output, "wb") as handle:  # a file, not a pipe: a full pipe would stall MkDocs
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)


def finish_mkdocs(process: subprocess.Popen[bytes], output: Path, config_file: Path) -> None:
    """Wait for MkDocs; AtlasError with its output if it failed (OSError if the disk is full)."""
    code = process.wait()
    if code != 0:
        text = output.read_text(encoding="utf-8", errors="replace") if output.is_file() else ""
        text = "\n".join(line for line in text.splitlines() if line.strip())
        if "No space left on device" in text:
            raise OSError(errno.ENOSPC, "No space left on device", str(config_file.parent))
        raise AtlasError(f"MkDocs could not build the site (exit code {code}):\n{text[-4000:]}")


def run_mkdocs(config_file: Path, strict: bool = True) -> None:
    """``mkdocs build`` in a subprocess, waited for."""
    output = config_file.with_name("mkdocs.log")
    finish_mkdocs(start_mkdocs(config_file, strict, output), output, config_file)


def link_media(data: AtlasData, site_dir: Path, shard: int = 0, shards: int = 1) -> int:
    """Hard-link (or copy, across file systems) every media file the pages use into the site
    (with ``shards`` > 1 only this shard's share); returns how many."""
    made: set[str] = set()
    site, root = str(site_dir), str(data.root)
    count = 0
    for site_path, atlas_path in shard_of(data.media.items(), shard, shards):
        # Plain strings, not Path objects: half a million files at paper scale.
        target = os.path.join(site, relative_inside(site_path))
        folder = os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        source = os.path.join(root, relative_inside(atlas_path))
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        count += 1
    return count


def merge_tree(source: Path, target: Path) -> None:
    """Move everything in ``source`` into ``target``: what ``target`` lacks moves whole (one
    rename for a folder), folders both hold are merged, and a file ``target`` already holds
    stays. (The site's own files are written beside MkDocs' output, then merged with it; they
    win, as when they were written over it.)"""
    Path(target).mkdir(parents=True, exist_ok=True)
    stack = [(str(source), str(target))]
    while stack:
        here, there = stack.pop()
        with os.scandir(here) as scan:
            entries = list(scan)  # listed before anything moves out of the folder
        for entry in entries:
            destination = os.path.join(there, entry.name)
            try:
                present = os.lstat(destination)
            except FileNotFoundError:
                os.rename(entry.path, destination)
                continue
            if entry.is_dir(follow_symlinks=False) and stat.S_ISDIR(present.st_mode):
                stack.append((entry.path, destination))


def site_size(site_dir: Path, pages: int) -> str:
    """One line on what the site holds: pages, files and bytes (media apart), for the build log."""
    files = total = media = 0
    stack = [str(site_dir)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    size = entry.stat(follow_symlinks=False).st_size
                    files += 1
                    total += size
                    if entry.name.endswith((".mp4", ".png", ".npz")):
                        media += size
    return f"size: {pages} pages, {files} files, {total / 1e6:.1f} MB ({media / 1e6:.1f} MB of media)"


def _check_folders(atlas_dir: Path, site_dir: Path) -> None:
    atlas, site = atlas_dir.resolve(), site_dir.resolve()
    if site == atlas or site in atlas.parents:
        raise AtlasError(
            f"The site folder {site_dir} must not contain the atlas folder {atlas_dir}; choose another."
        )
    if site.exists() and (not site.is_dir() or (any(site.iterdir()) and not (site / SITE_MARKER).is_file())):
        raise AtlasError(
            f"{site_dir} exists and is not a site built by the atlas; rendering would replace its contents. "
            f"Choose a new or empty folder."
        )


def render_site(
    atlas_dir: Path | str,
    site_dir: Path | str,
    *,
    title: str = "Video Feature Atlas",
    site_url: str | None = None,
    author: str = "The Video Feature Atlas authors",
    strict: bool = True,
    directory_urls: bool = True,
    templates_dir: Path | str = TEMPLATES_DIR,
    pages_dir: Path | str | None = PAGES_DIR,
    base_config: Path | str = BASE_CONFIG,
    keep_sources: bool = False,
    publish: bool = False,
    log: Log | None = None,
    workers: int | None = None,
    unit_shells: bool = True,
) -> Path:
    """Build the static site of the atlas in ``atlas_dir`` into ``site_dir`` and return it.

    Reads only the atlas's tables, manifest and media. ``strict``: missing media files and
    MkDocs warnings are errors. ``directory_urls=False`` gives ``.html`` URLs, for browsing
    from the file system. ``keep_sources`` keeps the generated Markdown and mkdocs.yml in
    ``<site_dir>.src/`` for inspection. ``log`` receives one line per stage with its time.
    ``publish``: the site is meant to be published, so it must have an absolute ``site_url``
    (permalinks, citations, the copy-link button and the JSON files are built from it).
    ``workers``: processes that write pages and files (default: one per core for a large
    atlas, one for a small one); the site is the same for any number.
    """
    if publish and not site_url:
        raise AtlasError(
            "site.site_url is empty, but a published atlas needs its public base URL (e.g. "
            "https://example.org/atlas/): citations, copied links and the unit JSON files carry it. "
            "Set site.site_url, or build without publishing."
        )
    # Absolute paths: the generated mkdocs.yml lives in a work folder and MkDocs resolves
    # relative paths against it.
    atlas_dir, site_dir = Path(atlas_dir).resolve(), Path(site_dir).resolve()
    say = log or (lambda _line: None)
    _check_folders(atlas_dir, site_dir)
    info = SiteInfo(title=title, site_url=site_url, author=author, directory_urls=directory_urls)

    started = time.perf_counter()
    data = load_atlas(atlas_dir, strict=strict)
    say(
        f"read: {len(data.units)} units, {len(data.media)} media files in {time.perf_counter() - started:.1f} s"
    )

    clean_leftovers(site_dir.parent, log=say, recursive=False)  # work folders of killed builds
    work = site_dir.parent / f".{site_dir.name}.building-{owner_tag()}"
    shutil.rmtree(work, ignore_errors=True)
    docs, built, mkdocs_out = work / "docs", work / "site", work / "mkdocs"
    processes = site_workers(len(data.units), workers)
    try:
        started = time.perf_counter()
        printed = (
            json.dumps(data.manifest),
            title,
            author,
            *(p.name for p in _hand_written(pages_dir).values()),
        )
        shells = (
            unit_shells and not keep_sources and shells_usable(read_base_config(Path(base_config)), printed)
        )
        count, nav, plan = write_sources(
            data,
            docs,
            info,
            templates_dir=Path(templates_dir),
            pages_dir=Path(pages_dir) if pages_dir else None,
            workers=processes,
            shells=shells,
        )
        config = mkdocs_config(
            Path(base_config),
            info=info,
            docs_dir=docs,
            site_dir=mkdocs_out,
            nav=nav,
            data=data,
            strict=strict,
        )
        config_file = work / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        say(f"pages: {count} rendered in {time.perf_counter() - started:.1f} s")

        # MkDocs runs in its own process while this one (and its forks) link the media and
        # write the unit files into a folder of their own; the two trees are merged after.
        started = time.perf_counter()
        mkdocs = start_mkdocs(config_file, strict, work / "mkdocs.log")
        try:

            def write_files(shard: int, shards: int) -> tuple[int, int]:
                linked = link_media(data, built, shard, shards)
                return linked, write_unit_files(data, info, built, Path(templates_dir), shard, shards)

            written = run_shards(write_files, processes)
        except BaseException:
            mkdocs.kill()
            mkdocs.wait()
            raise
        files_s = time.perf_counter() - started
        finish_mkdocs(mkdocs, work / "mkdocs.log", config_file)
        tidy_site(mkdocs_out, config)
        say(f"mkdocs: built in {time.perf_counter() - started:.1f} s")
        if plan is not None and plan.units:
            started = time.perf_counter()

            def fill(shard: int, shards: int) -> list[tuple[str, list[dict]]]:
                return fill_units(plan, docs, mkdocs_out, built, info.directory_urls, shard, shards)

            entries = {src: found for part in run_shards(fill, processes) for src, found in part}
            finish_shells(plan, mkdocs_out, info.directory_urls, entries)
            say(
                f"unit pages: {plan.pages()} made from {len(plan.units)} shells in "
                f"{time.perf_counter() - started:.1f} s"
            )

        started = time.perf_counter()
        merge_tree(mkdocs_out, built)
        shutil.rmtree(mkdocs_out, ignore_errors=True)  # the folders MkDocs' files moved out of
        linked = sum(n for n, _ in written)
        units = sum(n for _, n in written)
        write_unit_index(data, info, built)
        linked += write_downloads(data.root, built)
        write_json(built / SITE_MARKER, {"model_hash": data.manifest["model"]["hash"], "pages": count})
        say(
            f"media: {linked} files linked, {units} unit JSON files and embed views in "
            f"{files_s + time.perf_counter() - started:.1f} s ({files_s:.1f} s of it while MkDocs ran)"
        )
        say(site_size(built, count))

        old = site_dir.parent / f".{site_dir.name}.old-{owner_tag()}"
        if site_dir.exists():
            os.replace(site_dir, old)
        os.replace(built, site_dir)
        shutil.rmtree(old, ignore_errors=True)
        if keep_sources:
            sources = site_dir.parent / f"{site_dir.name}.src"
            shutil.rmtree(sources, ignore_errors=True)
            os.replace(work, sources)
            # Point the kept configuration at the kept pages, so `mkdocs serve -f` works there.
            config.update(docs_dir=str(sources / "docs"), site_dir=str(sources / "site"))
            (sources / "mkdocs.yml").write_text(
                yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return site_dir
