"""The static site (generator.site): rendered from a small fake atlas with hostile names."""

from __future__ import annotations

import json
import os
import posixpath
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from generator.errors import AtlasError
from generator.site.build import render_site
from generator.site.escape import md_escape, safe_title
from generator.site.parallel import run_shards, shard_of
from generator.site.paths import chi_segment, class_page, link, page_url, unit_page
from generator.store.parquet import read_table
from generator.store.schema import table_path
from tests.support.site_data import HOSTILE_CLASSES, make_fake_atlas
from tests.support.tables import VISUALIZATION_FILES

CLASSES = [
    "Billiards",
    "PlayingCello",
    "PlayingViolin",
    "BrushingTeeth",
    "ShavingBeard",
    "ApplyEyeMakeup",
    "ApplyLipstick",
    "CleanAndJerk",
    "JumpingJack",
    "WalkingWithDog",
    "Swing",
    "Drumming",
]
LAYERS = [("appearance/conv1_1", 6), ("motion/conv1_1", 6), ("fusion/conv5_fusion", 6), ("class", 0)]
SITE_URL = "https://atlas.example.org/v1/"
ROOT_PATH = "/v1/"
LINK_ATTRIBUTES = ("href", "src", "poster", "data-video")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in LINK_ATTRIBUTES and value is not None:
                self.links.append((tag, name, value))


def _links(path: Path) -> list[tuple[str, str, str]]:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.links


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("site")
    atlas = make_fake_atlas(
        root / "atlas", LAYERS, [0.1, 1.0, 10.0], CLASSES, with_media=True, seed=1, hostile=True
    )
    lines: list[str] = []
    site = render_site(
        atlas, root / "site", title="Test Atlas", site_url=SITE_URL, author="A. Tester", log=lines.append
    )
    return {"root": root, "atlas": atlas, "site": site, "log": lines}


def _html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_build_is_strict_and_complete(built: dict) -> None:
    site = built["site"]
    assert (site / "index.html").is_file() and (site / "search" / "search_index.json").is_file()
    assert [line.split(":")[0] for line in built["log"]] == [
        "read",
        "pages",
        "mkdocs",
        "unit pages",
        "media",
        "size",
    ]
    hand = {"how-to-read", "python-api"}  # hand-written pages (site_src), not counted as rendered
    generated = [p for p in _html_files(site) if p.name == "index.html" and p.parent.name not in hand]
    assert built["log"][-1].startswith(f"size: {len(generated)} pages, ")
    for page in (
        "layers/index.html",
        "classes/index.html",
        "failures/index.html",
        "findings/index.html",
        "how-to-read/index.html",
        "layers/motion/conv1_1/index.html",
        "classes/Billiards/index.html",
    ):
        assert (site / page).is_file(), page
    for page in _html_files(site):
        assert "atlas:html" not in page.read_text(encoding="utf-8"), page  # the hook unwrapped every block
    units = {row["unit_id"] for row in read_table(table_path(built["atlas"], "units")).to_pylist()}
    for unit_id in units:
        assert (site / page_url(unit_page(unit_id)) / "index.html").is_file(), unit_id


def _check_links(site: Path, root_path: str = ROOT_PATH) -> int:
    """Assert that every link, image, video and script of the built site resolves to a file of the
    site and that nothing is loaded from elsewhere; return how many were checked."""
    checked = 0
    for page in _html_files(site):
        here = page.parent.relative_to(site).as_posix()
        for tag, attribute, value in _links(page):
            base = here
            if value.startswith(("http://", "https://")):
                # Only plain links and the canonical URL may point outside; nothing is loaded from there.
                assert tag == "a" or (tag == "link" and value.startswith(SITE_URL)), (page, tag, value)
                continue
            if value.startswith(("#", "mailto:", "data:", "javascript:")):
                continue
            target = unquote(value.split("#")[0].split("?")[0])
            if target.startswith("/"):  # 404.html links from the site's root path, wherever it is served
                assert target.startswith(root_path), (page, value)
                target, base = target[len(root_path) :], ""
            resolved = posixpath.normpath(posixpath.join(base, target))
            assert not resolved.startswith(".."), (page, value)
            path = site / resolved
            if value.endswith("/") or path.is_dir():
                path = path / "index.html"
            assert path.is_file(), f"{page.relative_to(site)}: broken {attribute}={value!r}"
            checked += 1
    return checked


def test_every_internal_link_resolves_and_nothing_loads_from_outside(built: dict) -> None:
    assert _check_links(built["site"]) > 1000


def test_unit_page_has_videos_numbers_permalink_and_citation(built: dict) -> None:
    site, atlas = built["site"], built["atlas"]
    unit_id = "motion/conv1_1/0003"
    page = site / "units/motion/conv1_1/0003/index.html"
    html = unescape(page.read_text(encoding="utf-8"))  # text as the browser shows it
    rows = [r for r in read_table(table_path(atlas, "visualizations")).to_pylist() if r["unit_id"] == unit_id]
    videos = {value for tag, attribute, value in _links(page) if tag == "video" and attribute == "src"}
    assert "Not an input of this unit" in html  # a motion unit: its appearance panel says so
    for row in rows:
        for kind in ("colorwheel", "xymag"):
            if row[kind]:
                # Served under the unit's permalink by chi and kind, not under the settings-hashed atlas name.
                assert f"chi-{row['chi']:g}/{kind}.mp4" in videos
                served = site / f"units/{unit_id}/chi-{row['chi']:g}/{kind}.mp4"
                assert served.read_bytes() == (atlas / row[kind]).read_bytes()
    assert len(videos) >= 2 * sum(r["status"] == "ok" for r in rows)
    assert f"{SITE_URL}units/motion/conv1_1/0003/" in html
    assert "@misc{atlas-motion-conv1-1-0003," in html
    assert "fake0123456789abcdef" in html  # the model hash, in the citation
    assert "inputs.npz" in html and 'rel="prev"' in html and 'rel="next"' in html


def test_unit_pages_are_searchable_but_not_in_the_navigation(built: dict) -> None:
    site = built["site"]
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"] for doc in index["docs"]}
    assert "units/motion/conv1_1/0003/" in locations
    home = (site / "index.html").read_text(encoding="utf-8")
    # the nav (copied into every page) lists no unit page, only the index of all units
    assert re.findall(r'href="(units/[^"]*)"', home) and set(re.findall(r'href="(units/[^"]*)"', home)) == {
        "units/"
    }
    assert len((site / "units/motion/conv1_1/0003/index.html").read_text(encoding="utf-8")) < 200_000


def test_hostile_names_are_escaped_and_stay_inside_the_site(built: dict) -> None:
    site, root = built["site"], built["root"]
    for path in [*_html_files(site), site / "search" / "search_index.json", site / "sitemap.xml"]:
        text = path.read_text(encoding="utf-8")
        assert "<script>alert" not in text, path
        assert "<img src=x" not in text, path
    hostile_page = site / page_url(class_page(HOSTILE_CLASSES[0])) / "index.html"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_page.read_text(encoding="utf-8")
    # "Pipe|Class" must not split a table: every row of the classes table has the same number of cells.
    classes_html = (site / "classes/index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr>(.*?)</tr>", classes_html, flags=re.S)
    assert len({len(re.findall(r"<t[dh][ >]", row)) for row in rows}) == 1
    assert "Pipe&#124;Class" in classes_html or "Pipe|Class" in classes_html
    # Nothing was written beside the atlas and the site, and nothing in the site points outside it.
    assert sorted(p.name for p in root.iterdir()) == ["atlas", "site"]
    for path in site.rglob("*"):
        assert not path.is_symlink()
        assert site.resolve() in path.resolve().parents


def test_rebuild_keeps_every_url(built: dict, tmp_path: Path) -> None:
    site = built["site"]
    before = {p.relative_to(site).as_posix() for p in _html_files(site)}
    again = render_site(built["atlas"], tmp_path / "again", title="Test Atlas", site_url=SITE_URL)
    after = {p.relative_to(again).as_posix() for p in _html_files(again)}
    assert before == after
    # Rendering over an existing atlas site replaces it in place.
    (again / "stale.html").write_text("old")
    render_site(built["atlas"], again, title="Test Atlas", site_url=SITE_URL)
    assert not (again / "stale.html").exists() and (again / "index.html").is_file()


def test_relative_folders_build_like_absolute_ones(built: dict, tmp_path: Path, monkeypatch) -> None:
    # The CLI passes the configured output folder as written, usually relative to the current folder.
    monkeypatch.chdir(built["atlas"].parent)
    relative = render_site(
        Path(built["atlas"].name), Path("relative-site"), title="Test Atlas", site_url=SITE_URL
    )
    assert (built["atlas"].parent / "relative-site" / "index.html").is_file()
    assert relative.is_absolute()


def test_missing_media_and_foreign_site_folder_are_clear_errors(tmp_path: Path) -> None:
    atlas = make_fake_atlas(
        tmp_path / "atlas", [("motion/conv1", 2), ("class", 0)], [1.0], ["A", "B", "C"], with_media=False
    )
    (atlas / "media/shared/vis_chi0_composite.png").unlink()
    with pytest.raises(AtlasError, match="missing"):
        render_site(atlas, tmp_path / "site")
    assert not (tmp_path / "site").exists()
    site = render_site(atlas, tmp_path / "site", strict=False, directory_urls=False)
    assert (site / "units/motion/conv1/0001.html").is_file()  # .html URLs, for browsing from the file system
    assert _check_links(site, root_path="/") > 100
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(AtlasError, match="not a site built by the atlas"):
        render_site(atlas, foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"
    with pytest.raises(AtlasError, match="must not contain the atlas"):
        render_site(atlas, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atlas", "documents", "site"]


def test_links_escaping_and_titles() -> None:
    assert link("units/motion/conv3_1/0017.md", "units/motion/conv3_1/0018.md") == "../0018/"
    assert link("units/motion/conv3_1/0017.md", "index.md") == "../../../../"
    assert link("index.md", "files/media/a b.mp4") == "files/media/a%20b.mp4"
    assert (
        link("units/motion/conv3_1/0017.md", "units/motion/conv3_1/0018.md", directory_urls=False)
        == "0018.html"
    )
    assert unit_page("class/index") == "units/class/index_.md"  # never MkDocs' folder index
    assert ".." not in unit_page("motion/../../etc/0001") and unit_page("a/b/0001") == "units/a/b/0001.md"
    assert md_escape("a|b <i>*x*</i> [l](u)") == "a&#124;b &lt;i&gt;&#42;x&#42;&lt;/i&gt; &#91;l&#93;(u)"
    assert safe_title('<script>"x"</script>') == "_script__x__/script_"


def test_no_stray_build_folders(built: dict) -> None:
    leftovers = [p.name for p in built["root"].iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert os.access(built["site"] / "index.html", os.R_OK)


def test_layers_of_several_streams_at_one_depth_share_one_axis_label() -> None:
    from generator.site.pages import depth_labels

    layers = [
        (1, "appearance/conv1_1"),
        (1, "motion/conv1_1"),
        (5, "fusion/conv4_fusion"),
        (6, "head/fc6"),
        (6, "motion/fc6"),
        (7, "a/x"),
        (7, "b/y"),
    ]
    assert depth_labels(layers) == [
        (1, "conv1_1 (2 streams)"),
        (5, "fusion/conv4_fusion"),
        (6, "fc6 (2 streams)"),
        (7, "a/x / b/y"),
    ]


def test_first_to_last_layer_comparison_weighs_the_change_against_its_standard_error() -> None:
    from generator.site.stats import first_to_last_sentence

    layers = [
        {"name": "appearance/conv1", "depth": 1},
        {"name": "motion/conv1", "depth": 1},
        {"name": "class", "depth": 3},
        {"name": "head/fc", "depth": 2},
    ]
    spread = [0.0, 0.1, 0.2, 0.1, 0.0, 0.2]
    by_layer = {
        "appearance/conv1": [{"score": None}] * 4,  # no value: the first layer with one is motion/conv1
        "motion/conv1": [{"score": 0.2 + d} for d in spread],
        "head/fc": [{"score": 0.5}],
        "class": [{"score": 0.8 + d} for d in spread],
    }
    clear = first_to_last_sentence("mean score", "score", layers, by_layer)
    assert "motion/conv1: 0.30, 6 units" in clear and "class: 0.90, 6 units" in clear
    assert "+0.60" in clear and "a clear rise" in clear
    by_layer["class"] = [{"score": 0.23 + d} for d in spread]
    level = first_to_last_sentence("mean score", "score", layers, by_layer)
    assert "+0.03" in level and "no clear change" in level
    by_layer["class"] = [{"score": 0.2 + d - 0.5} for d in spread]
    assert "a clear fall" in first_to_last_sentence("mean score", "score", layers, by_layer)
    assert first_to_last_sentence("mean score", "score", layers[:1], by_layer).startswith("Too few")


def test_joint_feature_claim_is_printed_only_when_the_measurement_shows_it() -> None:
    from generator.site.stats import appearance_change_by_stream, joint_feature_sentence

    def unit(stream: str, change: float | None, dead: bool = False) -> dict:
        return {"stream": stream, "appearance_chi_change": change, "dead": dead}

    single = [unit("appearance", 0.0), unit("motion", 0.0), unit("motion", None)]
    coupled = [unit("fusion", v) for v in (0.08, 0.12, 0.2, 0.3)] + [unit("fusion", 50.0, dead=True)]
    rows = appearance_change_by_stream(single + coupled)
    fusion = next(r for r in rows if r["stream"] == "fusion")
    assert fusion["count"] == 4 and fusion["median"] == pytest.approx(0.16)  # the dead unit is left out
    sentence = joint_feature_sentence(rows, seeds=1)
    assert sentence.startswith("Shown here:") and "16.0 %" in sentence and "one seed" in sentence
    # Bit-identical appearances across chi (a linear fused unit): the claim is not printed, the number is.
    flat = appearance_change_by_stream(single + [unit("fusion", 0.0), unit("fusion", 0.001)])
    sentence = joint_feature_sentence(flat, seeds=2)
    assert sentence.startswith("Not shown here:") and "0.1 %" in sentence and "mean over 2 seeds" in sentence


def test_fusion_unit_pages_show_the_per_stream_views_beside_the_joint_one(built: dict) -> None:
    site, atlas = built["site"], built["atlas"]
    rows = read_table(table_path(atlas, "visualizations")).to_pylist()
    unit_id = "fusion/conv5_fusion/0002"
    views = {r["view"] for r in rows if r["unit_id"] == unit_id}
    assert views == {"joint", "appearance_only", "motion_only"}
    html = unescape((site / "units/fusion/conv5_fusion/0002/index.html").read_text(encoding="utf-8"))
    assert "Per-stream views" in html
    assert "appearance only (the other held at its data mean)" in html and "motion only" in html
    single = unescape((site / "units/motion/conv1_1/0003/index.html").read_text(encoding="utf-8"))
    assert "Per-stream views" not in single
    class_page_html = unescape(next((site / "classes").glob("*/index.html")).read_text(encoding="utf-8"))
    assert "Per-stream views" in class_page_html
    # The unit's JSON keeps the views apart: its visualizations are the joint rows only.
    record = json.loads((site / f"units/{unit_id}/unit.json").read_text(encoding="utf-8"))
    joint = [r for r in rows if r["unit_id"] == unit_id and r["view"] == "joint"]
    assert [r["view"] for r in record["visualizations"]] == ["joint"] * len(joint)
    assert sorted(record["stream_views"]) == ["appearance_only", "motion_only"]
    assert all(r["view"] == view for view, shown in record["stream_views"].items() for r in shown)
    # Each view's videos are its own files on the site, never the joint view's under the same name.
    chi = joint[0]["chi"]
    with_media = [r["view"] for r in rows if r["unit_id"] == unit_id and r["chi"] == chi and r["composite"]]
    assert "appearance_only" in with_media
    for view in with_media:
        folder = f"{chi_segment(chi)}/" + ("" if view == "joint" else f"{view}/")
        assert (site / f"units/{unit_id}/{folder}composite.mp4").is_file(), view
        assert f'src="{folder}composite.mp4"' in html, view


def test_speed_invariance_claim_is_tested_by_the_data_driven_score() -> None:
    from generator.site.stats import class_range_sentence, speed_claim_sentence, stream_lines

    layers = [{"name": f"motion/conv{d}", "depth": d} for d in (1, 2, 3, 4)]

    def by_layer(means: list[float]) -> dict:
        return {
            layer["name"]: [
                {"dead": False, "invariance_speed": m + e, "invariance_chi": 1.0 - m}
                for e in (-0.02, 0.0, 0.02)
            ]
            + [{"dead": True, "invariance_speed": 0.0}]
            for layer, m in zip(layers, means)
        }

    rising = speed_claim_sentence(layers, by_layer([0.2, 0.4, 0.5, 0.8]))
    assert rising.startswith("Shown here:") and "+1.00" in rising and "0.20" in rising and "0.80" in rising
    flat = speed_claim_sentence(layers, by_layer([0.5, 0.3, 0.6, 0.5]))
    assert flat.startswith("Not shown here:") and "0.50" in flat
    units = [{"selectivity": v} for v in (0.05, 0.1, 0.3, 0.45, 0.7)]
    assert class_range_sentence(units).startswith("Shown here:")
    assert class_range_sentence([{"selectivity": v} for v in (0.3, 0.31, 0.32, 0.33)]).startswith(
        "Not shown here:"
    )
    summaries = [
        {"stream": "appearance", "depth": 1, "x": 0.1},
        {"stream": "motion", "depth": 1, "x": 0.2},
        {"stream": "appearance", "depth": 2, "x": 0.3},
        {"stream": "fusion", "depth": 3, "x": 0.4},
    ]
    assert stream_lines(summaries, "x") == [
        ("appearance", [(1, 0.1), (2, 0.3)]),
        ("motion", [(1, 0.2)]),
        ("fusion", [(3, 0.4)]),
    ]


def _rehash_media(atlas: Path, out: Path) -> Path:
    """A copy of ``atlas`` whose visualization files carry other names, as a rebuild with other
    settings stores them (the settings hash is in the atlas's file names)."""
    import shutil

    from generator.store.parquet import read_metadata, write_table
    from generator.store.table_set import write_table_set

    shutil.copytree(atlas, out)
    path = table_path(out, "visualizations")
    rows = read_table(path).to_pylist()
    renamed: dict[str, str] = {}
    for row in rows:
        for column in VISUALIZATION_FILES:
            old = row[column]
            if old:
                if old not in renamed:
                    renamed[old] = f"media/other-settings/{len(renamed):05d}{Path(old).suffix}"
                    (out / renamed[old]).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(atlas / old, out / renamed[old])
                row[column] = renamed[old]
    write_table("visualizations", rows, path, read_metadata(path))
    write_table_set(out)  # the rebuild writes its tables as one set
    return out


def _media_urls(site: Path) -> set[str]:
    urls = set()
    for page in site.glob("units/motion/conv1_1/*/index.html"):
        here = page.parent.relative_to(site).as_posix()
        for tag, attribute, value in _links(page):
            if tag == "video" and attribute in ("src", "poster"):
                urls.add(posixpath.normpath(posixpath.join(here, value)))
    return urls


def test_media_urls_stay_the_same_when_the_settings_change(built: dict, tmp_path: Path) -> None:
    other = _rehash_media(built["atlas"], tmp_path / "atlas")
    again = render_site(other, tmp_path / "site", title="Test Atlas", site_url=SITE_URL)
    before, after = _media_urls(built["site"]), _media_urls(again)
    assert before and before == after
    visualized = [u for u in before if not u.startswith("files/media/clips/")]  # real clips name no settings
    assert visualized and all(
        re.fullmatch(r"units/motion/conv1_1/\d{4}/chi-[0-9.]+/(appearance|colorwheel|xymag)\.(mp4|png)", u)
        for u in visualized
    ), sorted(visualized)[:5]


def test_publishing_needs_a_site_url(built: dict, tmp_path: Path) -> None:
    with pytest.raises(AtlasError, match="site.site_url"):
        render_site(built["atlas"], tmp_path / "site", publish=True)
    assert not (tmp_path / "site").exists()


def test_unit_json_holds_every_number_and_media_url(built: dict) -> None:
    site, atlas = built["site"], built["atlas"]
    unit_id = "motion/conv1_1/0003"
    record = json.loads((site / f"units/{unit_id}/unit.json").read_text(encoding="utf-8"))
    unit = next(r for r in read_table(table_path(atlas, "units")).to_pylist() if r["unit_id"] == unit_id)
    assert record["permalink"] == f"{SITE_URL}units/{unit_id}/"
    for key in (
        "selectivity",
        "invariance_chi",
        "invariance_speed",
        "act_peak",
        "act_mean",
        "dead",
        "channel",
    ):
        assert record["unit"][key] == pytest.approx(unit[key]), key
    assert record["unit"]["class_means"] == pytest.approx(unit["class_means"])
    rows = sorted(
        (r for r in read_table(table_path(atlas, "visualizations")).to_pylist() if r["unit_id"] == unit_id),
        key=lambda r: (r["chi"], r["seed"]),
    )
    assert [r["activation"] for r in record["visualizations"]] == pytest.approx(
        [r["activation"] for r in rows]
    )
    urls = [r[k] for r in record["visualizations"] for k in ("colorwheel", "xymag", "array") if r[k]]
    assert urls
    for url in urls:  # absolute, and the file is served there
        assert url.startswith(SITE_URL) and (site / url[len(SITE_URL) :]).is_file(), url
    assert record["visualizations"][0]["anchor"].endswith(f"#chi-{rows[0]['chi']:g}")
    assert record["settings_hash"] and record["model"]["hash"] == "fake0123456789abcdef"


def test_unit_page_links_durably(built: dict) -> None:
    site = built["site"]
    unit_id = "motion/conv1_1/0003"
    html = unescape(
        (site / f"units/{unit_id}/index.html").read_text(encoding="utf-8")
    )  # as the browser reads it
    # a link can point at one chi: every chi row has its anchor and a copy button with the absolute link
    for chi in (0.1, 1.0, 10.0):
        assert f'id="chi-{chi:g}"' in html
        assert f'data-copy="{SITE_URL}units/{unit_id}/#chi-{chi:g}"' in html
    assert f'data-copy="{SITE_URL}units/{unit_id}/"' in html
    assert f'<meta property="og:image" content="{SITE_URL}units/{unit_id}/poster.png">' in html
    assert (site / f"units/{unit_id}/poster.png").is_file()
    assert f'<meta property="og:url" content="{SITE_URL}units/{unit_id}/">' in html
    assert f'<iframe src="{SITE_URL}units/{unit_id}/embed.html"' in html  # shown as text, to copy
    assert "howpublished = {\\url{" + f"{SITE_URL}units/{unit_id}/" + "}}" in html


def test_embed_view_is_self_contained(built: dict) -> None:
    site = built["site"]
    page = site / "units/motion/conv1_1/0003/embed.html"
    html = page.read_text(encoding="utf-8")
    videos = [v for tag, a, v in _links(page) if tag == "video" and a == "src"]
    rows = [
        r
        for r in read_table(table_path(built["atlas"], "visualizations")).to_pylist()
        if r["unit_id"] == "motion/conv1_1/0003"
    ]
    assert len(videos) == sum(bool(r[k]) for r in rows for k in ("appearance", "colorwheel", "xymag")) > 0
    for value in videos:  # beside the file: it plays from a copy of the folder, offline
        assert not value.startswith(("/", "http")) and (page.parent / value).is_file(), value
    assert "<script" not in html and "<link" not in html and "http" not in html.replace(SITE_URL, "")
    assert f'href="{SITE_URL}units/motion/conv1_1/0003/"' in html and "motion/conv1_1/0003" in html


def test_tuning_plots_arrows_and_search(built: dict) -> None:
    from generator.measures.tuning import arrow, direction_word

    site, atlas = built["site"], built["atlas"]
    units = {r["unit_id"]: r for r in read_table(table_path(atlas, "units")).to_pylist()}
    unit = units["motion/conv1_1/0003"]
    html = unescape((site / "units/motion/conv1_1/0003/index.html").read_text(encoding="utf-8"))
    assert f'data-preferred-direction="{unit["preferred_direction"]:.1f}"' in html
    assert html.count('class="atlas-polar-speed"') == 5 and "Speed tuning of motion/conv1_1/0003" in html
    assert f"{direction_word(unit['preferred_direction'])} ({arrow(unit['preferred_direction'])})" in html
    appearance = unescape((site / "units/appearance/conv1_1/0001/index.html").read_text(encoding="utf-8"))
    assert "atlas-polar" not in appearance  # sees no motion: no tuning
    grid = unescape((site / "layers/motion/conv1_1/index.html").read_text(encoding="utf-8"))
    live = [
        u for u in units.values() if u["layer"] == "motion/conv1_1" and u["preferred_direction"] is not None
    ]
    assert live and grid.count('class="atlas-dir"') == len(live)
    record = json.loads((site / "units/motion/conv1_1/0003/unit.json").read_text(encoding="utf-8"))
    best = max(record["tuning"], key=lambda r: r["response"])
    assert len(record["tuning"]) == 16 * 5 and best["speed"] == pytest.approx(unit["preferred_speed"])
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    words = direction_word(unit["preferred_direction"])
    found = [
        d
        for d in index["docs"]
        if d["location"].startswith("units/motion/conv1_1/0003/") and words in d["text"]
    ]
    assert found, "the preferred direction is searchable"


def test_findings_compare_class_tuning_with_the_planted_axes(built: dict) -> None:
    from generator.measures.tuning import axis
    from generator.world.classes import PLANTED_AXES

    units = {r["unit_id"]: r for r in read_table(table_path(built["atlas"], "units")).to_pylist()}
    checked = [c for c in CLASSES if c in PLANTED_AXES]
    matches = sum(axis(units[f"class/{c}"]["preferred_direction"]) == PLANTED_AXES[c] for c in checked)
    html = unescape((built["site"] / "findings/index.html").read_text(encoding="utf-8"))
    assert "Direction tuning of the class outputs" in html
    assert f"lies along the planted axis for {matches} of {len(checked)}" in html


def test_every_table_downloads_as_parquet_and_csv_and_the_unit_index_lists_every_unit(built: dict) -> None:
    import csv

    import pyarrow.parquet as pq

    from generator.store.schema import SCHEMAS

    site, atlas = built["site"], built["atlas"]
    html = unescape((site / "downloads/index.html").read_text(encoding="utf-8"))
    for name in SCHEMAS:
        original = read_table(table_path(atlas, name))
        assert pq.read_table(site / f"data/{name}.parquet").equals(original)
        with open(site / f"data/{name}.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == original.num_rows and list(rows[0]) == original.column_names if rows else True
        assert f"{name}.csv" in html and f"{name}.parquet" in html
    units = read_table(table_path(atlas, "units")).to_pylist()
    vis = read_table(table_path(atlas, "visualizations")).to_pylist()
    index = json.loads((site / "data/unit-index.json").read_text(encoding="utf-8"))
    assert len(index["rows"]) == len(units)
    column = {name: i for i, name in enumerate(index["columns"])}
    by_id = {r[column["id"]]: r for r in index["rows"]}
    for unit in units:
        row = by_id[unit["unit_id"]]
        assert (site / row[column["page"]] / "index.html").is_file()
        assert row[column["poster"]] is None or (site / row[column["poster"]]).is_file()
        if unit["selectivity"] is not None:
            assert row[column["si"]] == pytest.approx(unit["selectivity"], abs=5e-4)
        mine = [r["status"] for r in vis if r["unit_id"] == unit["unit_id"] and r["view"] == "joint"]
        worst = next(
            (s for s in ("failed", "weak") if any(m.startswith(s) for m in mine)), "ok" if mine else "none"
        )
        assert row[column["status"]] == worst, unit["unit_id"]  # per-stream views do not count
    page = unescape((site / "units/index.html").read_text(encoding="utf-8"))
    assert page.count("<tr") < 5  # rows come from the JSON, not from a table of every unit


def test_site_has_no_source_maps_or_unused_search_languages(built: dict) -> None:
    site = built["site"]
    assert not list(site.rglob("*.map"))
    assert not (site / "assets/javascripts/lunr").exists()  # English only: no stemmers of other languages
    for path in list(site.glob("assets/**/*.min.js")) + list(site.glob("assets/**/*.min.css")):
        assert b"sourceMappingURL" not in path.read_bytes(), path
    assert list(site.glob("assets/javascripts/workers/search.*.min.js"))  # search itself is kept


def test_legibility_keys_absent_inputs_clips_and_layer_thumbnails(built: dict) -> None:
    site = built["site"]
    unit = unescape((site / "units/motion/conv1_1/0003/index.html").read_text(encoding="utf-8"))
    assert "hue = direction (→ red, ↑ violet, ← cyan, ↓ yellow)" in unit  # beside the flow columns
    assert "Not an input of this unit" in unit
    fusion = unescape((site / "units/fusion/conv5_fusion/0001/index.html").read_text(encoding="utf-8"))
    assert "Not an input of this unit" not in fusion  # sees both streams
    clips = [a for tag, a, v in _links(site / "units/motion/conv1_1/0003/index.html") if tag == "video"]
    assert clips and "controls" not in unit  # small clips: poster and click to play, no native controls
    assert "data-click-play" in unit
    layers = site / "layers/index.html"
    thumbs = [v for tag, a, v in _links(layers) if tag == "img" and a == "src"]
    assert len(thumbs) >= 3  # one thumbnail per layer with a live unit
    assert "→ red, ↑ violet" in unescape(
        (site / "layers/motion/conv1_1/index.html").read_text(encoding="utf-8")
    )


def test_unit_page_shows_clips_across_the_activation_range(built: dict) -> None:
    site, atlas = built["site"], built["atlas"]
    unit_id = "motion/conv1_1/0003"
    samples = [
        r for r in read_table(table_path(atlas, "clip_samples")).to_pylist() if r["unit_id"] == unit_id
    ]
    bins = [
        r
        for r in read_table(table_path(atlas, "activation_histograms")).to_pylist()
        if r["unit_id"] == unit_id
    ]
    assert len({r["quantile"] for r in samples}) == 4 and len(bins) == 20
    page = site / f"units/{unit_id}/index.html"
    html = unescape(page.read_text(encoding="utf-8"))
    assert f"Responses of {unit_id} over the held-out clips" in html
    assert html.count('class="atlas-mark"') == 4
    for q in (10, 50, 90, 99):
        assert f"quantile {q}" in html
    videos = {v for tag, a, v in _links(page) if tag == "video" and a == "src"}
    for row in samples:  # every sampled clip is shown
        assert any(v.endswith(row["composite"]) for v in videos), row["composite"]
    record = json.loads((site / f"units/{unit_id}/unit.json").read_text(encoding="utf-8"))
    assert sum(b["clips"] for b in record["activation_histogram"]) == sum(b["clips"] for b in bins)
    assert len(record["clip_samples"]) == len(samples)


def test_clips_of_units_with_positions_show_where_they_fire(built: dict) -> None:
    site, atlas = built["site"], built["atlas"]
    unit_id = "motion/conv1_1/0003"
    rows = [
        r
        for name in ("top_clips", "clip_samples")
        for r in read_table(table_path(atlas, name)).to_pylist()
        if r["unit_id"] == unit_id
    ]
    page = site / f"units/{unit_id}/index.html"
    html = unescape(page.read_text(encoding="utf-8"))
    videos = {v for tag, a, v in _links(page) if tag == "video" and a == "src"}
    assert rows and all(any(v.endswith(r["overlay"]) for v in videos) for r in rows)
    high = rows[0]["overlay_high"]
    unit = next(u for u in read_table(table_path(atlas, "units")).to_pylist() if u["unit_id"] == unit_id)
    assert high != unit["act_peak"]  # the fake unit's range is not its rho: the label says what it is
    assert (
        f"where this unit fires: its rectified response, 0 to {high:.3f}, its largest at any position in any "
        f"held-out clip (ρ, of its objective, is {unit['act_peak']:.3f})"
    ) in html
    assert html.count('class="atlas-heat-legend"') == len(rows)
    record = json.loads((site / f"units/{unit_id}/unit.json").read_text(encoding="utf-8"))
    assert all(clip["overlay"] for clip in record["top_clips"] + record["clip_samples"])
    classes = [
        r["unit_id"] for r in read_table(table_path(atlas, "units")).to_pylist() if r["stream"] == "class"
    ]
    assert classes and all(
        "where this unit fires"
        not in (site / page_url(unit_page(u)) / "index.html").read_text(encoding="utf-8")
        for u in classes
    )


def test_receptive_field_is_outlined_where_the_unit_sees_part_of_the_frame(built: dict) -> None:
    site = built["site"]
    layers = {l["name"]: l for l in json.loads((built["atlas"] / "manifest.json").read_text())["layers"]}
    motion = unescape((site / "units/motion/conv1_1/0003/index.html").read_text(encoding="utf-8"))
    rf, size = layers["motion/conv1_1"]["receptive_field"], layers["motion/conv1_1"]["input_size"]
    width = round(100 * rf / size, 2)
    assert f"width: {width}%; height: {width}%" in motion and f"{rf} of the frame's {size} pixels" in motion
    fusion = unescape((site / "units/fusion/conv5_fusion/0001/index.html").read_text(encoding="utf-8"))
    assert 'class="atlas-rf"' not in fusion  # a fusion unit's objective is the whole channel


def _tree(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


def _render_again(built: dict, site: Path, **options: object) -> tuple[Path, list[str]]:
    """The fixture's atlas rendered as the fixture renders it, with other ``options``; the log too."""
    lines: list[str] = []
    path = render_site(
        built["atlas"],
        site,
        title="Test Atlas",
        site_url=SITE_URL,
        author="A. Tester",
        log=lines.append,
        **options,
    )
    return path, lines


def test_site_is_the_same_written_by_several_processes(built: dict, tmp_path: Path) -> None:
    """Pages, unit files and media written by three forked processes (MkDocs running beside
    them) make byte for byte the site that one process makes."""
    assert built["log"][2].startswith("mkdocs:")  # the fixture's small site: one process
    site, _ = _render_again(built, tmp_path / "site", workers=3)
    one, three = _tree(built["site"]), _tree(site)
    assert sorted(one) == sorted(three)
    assert [name for name in one if one[name] != three[name]] == []
    # The navigation rendered once for pages outside it: nothing active there, the layer's link active on its page.
    unit = (site / "units/motion/conv1_1/0003/index.html").read_text(encoding="utf-8")
    layer = (site / "layers/motion/conv1_1/index.html").read_text(encoding="utf-8")
    assert "md-nav__link--active" not in unit and "md-nav__link--active" in layer


def test_a_writer_process_error_reaches_the_caller() -> None:
    def task(shard: int, shards: int) -> int:
        if shard == 1:
            raise ValueError(f"shard {shard} of {shards} failed")
        return shard

    with pytest.raises(ValueError, match="shard 1 of 3 failed"):
        run_shards(task, 3)
    assert run_shards(lambda shard, shards: (shard, shards), 3) == [(0, 3), (1, 3), (2, 3)]
    assert [list(shard_of(range(7), s, 3)) for s in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]


def test_unit_pages_from_shells_are_the_pages_mkdocs_renders(built: dict, tmp_path: Path) -> None:
    """Unit pages made from shared shells (the default) are, byte for byte, the pages MkDocs
    renders one by one; so are the search index and the sitemap that list them."""
    units = read_table(table_path(built["atlas"], "units")).num_rows
    made = [line for line in built["log"] if line.startswith("unit pages:")]
    assert len(made) == 1
    pages, shells = int(made[0].split()[2]), int(made[0].split(" made from ")[1].split()[0])
    assert 1 <= shells < pages <= units  # the hostile class names' pages go to MkDocs whole
    whole, lines = _render_again(built, tmp_path / "site", unit_shells=False)
    assert not any(line.startswith("unit pages:") for line in lines)
    shelled, rendered = _tree(built["site"]), _tree(whole)
    assert sorted(shelled) == sorted(rendered)
    assert [name for name in shelled if shelled[name] != rendered[name]] == []
    assert not any("ATLASSHELL" in name for name in shelled)
