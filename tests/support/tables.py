"""What the tests know of the atlas's tables, written out as the schema names it."""

from __future__ import annotations

# The visualizations table's columns that name a file of the atlas folder: the optimised inputs
# (.npz), the videos and their posters.
VISUALIZATION_FILES = (
    "array",
    "appearance",
    "colorwheel",
    "xymag",
    "composite",
    "poster",
    "appearance_poster",
    "colorwheel_poster",
    "xymag_poster",
)
