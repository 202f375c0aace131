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
from generator.site.fake import HOSTILE_CLASSES, make_fake_atlas
from generator.site.paths import class_page, link, page_url, unit_page
from generator.store.tables import read_table, table_path

CLASSES = ["Billiards", "PlayingCello", "PlayingViolin", "BrushingTeeth", "ShavingBeard", "ApplyEyeMakeup",
           "ApplyLipstick", "CleanAndJerk", "JumpingJack", "WalkingWithDog", "Swing", "Drumming"]  # fmt: skip
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
    atlas = make_fake_atlas(root / "atlas", LAYERS, [0.1, 1.0, 10.0], CLASSES, with_media=True, seed=1, hostile=True)
    lines: list[str] = []
    site = render_site(atlas, root / "site", title="Test Atlas", site_url=SITE_URL, author="A. Tester",
                       log=lines.append)  # fmt: skip
    return {"root": root, "atlas": atlas, "site": site, "log": lines}


def _html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_build_is_strict_and_complete(built: dict) -> None:
    site = built["site"]
    assert (site / "index.html").is_file() and (site / "search" / "search_index.json").is_file()
    assert [line.split(":")[0] for line in built["log"]] == ["read", "pages", "mkdocs", "media"]
    for page in ("layers/index.html", "classes/index.html", "failures/index.html", "findings/index.html",
                 "how-to-read/index.html", "layers/motion/conv1_1/index.html", "classes/Billiards/index.html"):
        assert (site / page).is_file(), page  # fmt: skip
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
    for row in rows:
        for kind in ("appearance", "colorwheel", "xymag"):
            if row[kind]:
                assert f"../../../../files/{row[kind]}" in videos
                assert (site / "files" / row[kind]).read_bytes() == (atlas / row[kind]).read_bytes()
    assert len(videos) >= 3 * sum(r["status"] == "ok" for r in rows)
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
    assert "units/" not in home  # the nav (copied into every page) lists no unit page
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
    relative = render_site(Path(built["atlas"].name), Path("relative-site"), title="Test Atlas", site_url=SITE_URL)
    assert (built["atlas"].parent / "relative-site" / "index.html").is_file()
    assert relative.is_absolute()


def test_missing_media_and_foreign_site_folder_are_clear_errors(tmp_path: Path) -> None:
    atlas = make_fake_atlas(tmp_path / "atlas", [("motion/conv1", 2), ("class", 0)], [1.0], ["A", "B", "C"],
                            with_media=False)  # fmt: skip
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
    assert link("units/motion/conv3_1/0017.md", "units/motion/conv3_1/0018.md", directory_urls=False) == "0018.html"
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

    layers = [(1, "appearance/conv1_1"), (1, "motion/conv1_1"), (5, "fusion/conv4_fusion"),
              (6, "head/fc6"), (6, "motion/fc6"), (7, "a/x"), (7, "b/y")]  # fmt: skip
    assert depth_labels(layers) == [
        (1, "conv1_1 (2 streams)"), (5, "fusion/conv4_fusion"), (6, "fc6 (2 streams)"), (7, "a/x / b/y"),
    ]


def test_first_to_last_layer_comparison_weighs_the_change_against_its_standard_error() -> None:
    from generator.site.stats import first_to_last_sentence

    layers = [{"name": "appearance/conv1", "depth": 1}, {"name": "motion/conv1", "depth": 1},
              {"name": "class", "depth": 3}, {"name": "head/fc", "depth": 2}]  # fmt: skip
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


def test_speed_invariance_claim_is_tested_by_the_data_driven_score() -> None:
    from generator.site.stats import class_range_sentence, speed_claim_sentence, stream_lines

    layers = [{"name": f"motion/conv{d}", "depth": d} for d in (1, 2, 3, 4)]

    def by_layer(means: list[float]) -> dict:
        return {layer["name"]: [{"dead": False, "invariance_speed": m + e, "invariance_chi": 1.0 - m}
                                for e in (-0.02, 0.0, 0.02)] + [{"dead": True, "invariance_speed": 0.0}]
                for layer, m in zip(layers, means)}  # fmt: skip

    rising = speed_claim_sentence(layers, by_layer([0.2, 0.4, 0.5, 0.8]))
    assert rising.startswith("Shown here:") and "+1.00" in rising and "0.20" in rising and "0.80" in rising
    flat = speed_claim_sentence(layers, by_layer([0.5, 0.3, 0.6, 0.5]))
    assert flat.startswith("Not shown here:") and "0.50" in flat
    units = [{"selectivity": v} for v in (0.05, 0.1, 0.3, 0.45, 0.7)]
    assert class_range_sentence(units).startswith("Shown here:")
    assert class_range_sentence([{"selectivity": v} for v in (0.3, 0.31, 0.32, 0.33)]).startswith("Not shown here:")
    summaries = [{"stream": "appearance", "depth": 1, "x": 0.1}, {"stream": "motion", "depth": 1, "x": 0.2},
                 {"stream": "appearance", "depth": 2, "x": 0.3}, {"stream": "fusion", "depth": 3, "x": 0.4}]
    assert stream_lines(summaries, "x") == [("appearance", [(1, 0.1), (2, 0.3)]), ("motion", [(1, 0.2)]),
                                            ("fusion", [(3, 0.4)])]  # fmt: skip
