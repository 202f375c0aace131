"""Errors a user meets are one paragraph that says what to do: a failing model function, a full
disk, a 300-character class name; and `atlas serve` shows pages, never folder listings."""

from __future__ import annotations

import errno
import urllib.error
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from generator.site.build import render_site
from generator.site.paths import class_page
from generator.site.serve import serving
from generator.store.keys import MAX_SEGMENT, safe_segment
from tests.support.site_data import make_fake_atlas


def test_a_failing_model_function_is_one_paragraph_naming_model_source() -> None:
    args = ["layers", "--model", "tests.fixtures_hostile_module:broken"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert (
        "The model given as model.source = 'tests.fixtures_hostile_module:broken' failed while calling broken(): "
        "ValueError: bad width 7." in result.output
    )
    assert "Traceback" not in result.output and "--debug" in result.output
    debug = CliRunner().invoke(app, ["--debug", *args])
    assert debug.exit_code == 2 and "Traceback" in debug.output and "widths['conv1']" in debug.output


def test_a_full_disk_is_one_paragraph_naming_the_output_folder(tmp_path: Path, monkeypatch) -> None:
    import generator.site

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "site" / "index.html"))

    monkeypatch.setattr(generator.site, "render_site", full)
    result = CliRunner().invoke(app, ["site", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        f"The disk holding the output folder {tmp_path} is full (no space left on device while writing"
        in (" ".join(result.output.split()))
    )


def test_long_names_are_shortened_with_a_hash_and_render(tmp_path: Path) -> None:
    long_a, long_b = "A" * 300, "A" * 299 + "B"
    assert len(safe_segment(long_a)) <= MAX_SEGMENT and safe_segment(long_a) != safe_segment(long_b)
    assert safe_segment("Billiards") == "Billiards"  # ordinary names keep their paths
    atlas = make_fake_atlas(
        tmp_path / "atlas",
        [("motion/conv1_1", 2), ("class", 0)],
        [1.0],
        ["Billiards", long_a, long_b],
        with_media=True,
    )
    site = render_site(atlas, tmp_path / "site")
    page = site / class_page(long_a).removesuffix(".md") / "index.html"
    assert page.is_file() and long_a in page.read_text(encoding="utf-8")


def test_serve_answers_404_for_folders_without_an_index(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>home</p>")
    (tmp_path / "files" / "media").mkdir(parents=True)
    (tmp_path / "files" / "media" / "a.mp4").write_bytes(b"x")
    with serving(tmp_path) as base:
        assert urllib.request.urlopen(base).read() == b"<p>home</p>"
        for folder in ("files/", "files/media/"):
            try:
                urllib.request.urlopen(base + folder)
                raise AssertionError(f"{folder} was listed")
            except urllib.error.HTTPError as error:
                assert error.code == 404
        assert urllib.request.urlopen(base + "files/media/a.mp4").read() == b"x"
