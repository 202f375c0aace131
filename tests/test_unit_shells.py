"""Unit pages from shells: what is split off as a value, what makes a page go to MkDocs whole,
and the order the search index and sitemap list pages in. (That the pages themselves equal
MkDocs' is checked on whole sites in test_site.py and test_site_hostile.py.)"""

from __future__ import annotations

from generator.site.pages import Page
from generator.site.unit_shells import build_order, plan_shells, shape, shells_usable

BODY = (
    "# Unit motion/conv1&#95;1/0003 { #unit }\n\n"
    '<p class="atlas-lead">Channel 3 of <a href="../">motion/conv1_1</a>.</p>\n\n'
    "<!--atlas:block 0-->\n\n"
    "## Numbers { data-search-exclude }\n\n"
    "<!--atlas:block 1-->\n"
)


def _page(unit: str = "0003", **meta: str) -> Page:
    return Page(
        f"units/motion/conv1_1/{unit}.md",
        "unit.md.j2",
        f"motion/conv1_1/{unit}",
        {},
        meta=meta or {"og_title": f"Unit motion/conv1_1/{unit}"},
    )


def test_title_heading_and_raw_paragraphs_become_values_and_the_rest_is_the_shape() -> None:
    found = shape(_page(), BODY)
    assert found is not None
    assert found.values == (
        "motion/conv1_1/0003",
        "Unit motion/conv1_1/0003",
        "Unit motion/conv1&#95;1/0003",
        '<p class="atlas-lead">Channel 3 of <a href="../">motion/conv1_1</a>.</p>',
    )
    assert "0003" not in found.source and "## Numbers { data-search-exclude }" in found.source
    assert "# ATLASSHELL2Z { #unit }" in found.source and "<!--ATLASSHELL3Z-->" in found.source
    other = shape(_page("0004"), BODY.replace("0003", "0004").replace("Channel 3", "Channel 4"))
    assert other is not None and other.key == found.key and other.values != found.values
    changed = shape(_page(), BODY.replace("## Numbers", "## Other numbers"))
    assert changed is not None and changed.key != found.key


def test_values_a_theme_would_change_send_the_page_to_mkdocs_whole() -> None:
    assert shape(_page(og_description="it's"), BODY) is None  # a quote: escaped in attributes
    assert shape(_page(og_description="a & b"), BODY) is None
    assert shape(_page(og_description="two  spaces"), BODY) is None  # tag stripping collapses them
    assert shape(_page(), BODY.replace(" { #unit }", "")) is None  # the heading's id would follow its text
    assert shape(_page(), BODY.replace("conv1&#95;1/0003 {", "conv1_1/*0003* {")) is None  # emphasis
    assert shape(_page(), BODY + "\nATLASSHELL0Z\n") is None  # a token in the page itself


def test_shells_group_pages_by_folder_and_shape_and_avoid_taken_names() -> None:
    shaped = [
        ("units/a/l1/0002.md", "k1"),
        ("units/a/l1/0001.md", "k1"),
        ("units/a/l1/0003.md", "k2"),
        ("units/a/l2/0001.md", "k1"),
    ]
    taken = {"units/a/l1/ATLASSHELLPAGE0Z.md"}
    plan, markdown = plan_shells(shaped, {"k1": "one", "k2": "two"}, taken)
    assert plan.pages() == 4 and not set(plan.units) & taken
    assert sorted(plan.units.values()) == [
        ["units/a/l1/0001.md", "units/a/l1/0002.md"],
        ["units/a/l1/0003.md"],
        ["units/a/l2/0001.md"],
    ]
    assert sorted(markdown.values()) == ["one", "one", "two"]
    again, _ = plan_shells(list(reversed(shaped)), {"k1": "one", "k2": "two"}, taken)
    assert again == plan  # however the pages were shared out


def test_units_take_their_shells_place_in_mkdocs_file_order() -> None:
    items = [
        ("", "home"),
        ("units/l/", "folder index"),
        ("units/l/S1/", "shell 1, entry 1"),
        ("units/l/S1/", "shell 1, entry 2"),
        ("units/l/0002/", "written whole"),
        ("units/l/S2/", "shell 2"),
        ("z/", "after"),
    ]
    units = {
        "units/l/S1/": [("units/l/0003/", ["0003 a", "0003 b"]), ("units/l/0001/", ["0001"])],
        "units/l/S2/": [("units/l/index_/", ["index_"])],
    }
    assert build_order(items, units, directory_urls=True) == [
        "home",
        "folder index",
        "0001",
        "written whole",
        "0003 a",
        "0003 b",
        "index_",
        "after",
    ]


def test_shells_only_where_nothing_else_touches_pages() -> None:
    assert shells_usable({"theme": {"name": "material"}, "plugins": ["search"]})
    assert shells_usable({"theme": {"name": "material"}, "plugins": [{"search": {"separator": " "}}]})
    assert not shells_usable({"theme": {"name": "material"}, "plugins": ["search", "macros"]})
    assert not shells_usable({"theme": {"name": "readthedocs"}})
    assert not shells_usable({"theme": {"name": "material"}}, ["layer ATLASSHELL1Z"])
