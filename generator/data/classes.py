"""Matching a data set's classes to a model's outputs: by name, then through data.folder.class_map.

Names match exactly or, failing that, ignoring case and every character that is not a letter
or digit (``apply_eye_makeup`` is ``ApplyEyeMakeup``). A data set class that matches no output
stops the build before any work, with both lists and the unmatched names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from generator.errors import DataError

_LOOSE = re.compile(r"[^0-9a-z]")


def loose(name: str) -> str:
    """A class name without case, spaces or punctuation."""
    return _LOOSE.sub("", name.lower())


def map_classes(
    data_classes: Sequence[str], model_classes: Sequence[str], class_map: Mapping[str, str]
) -> dict[str, int]:
    """Data set class -> index of the model output it is (raises DataError on any unmatched class)."""
    exact = {name: i for i, name in enumerate(model_classes)}
    by_loose: dict[str, int] = {}
    for i, name in enumerate(model_classes):
        by_loose.setdefault(loose(name), i)
    bad_targets = sorted({v for v in class_map.values() if v not in exact})
    if bad_targets:
        raise DataError(
            f"data.folder.class_map maps to {', '.join(map(repr, bad_targets))}, which the model does "
            f"not have; the model's classes are: {', '.join(model_classes)}."
        )
    result, unmatched = {}, []
    for name in data_classes:
        if name in class_map:
            result[name] = exact[class_map[name]]
        elif name in exact:
            result[name] = exact[name]
        elif loose(name) in by_loose:
            result[name] = by_loose[loose(name)]
        else:
            unmatched.append(name)
    if unmatched:
        raise DataError(
            f"The data set's classes do not all match the model's outputs. Unmatched data set classes: "
            f"{', '.join(unmatched)}. Data set classes ({len(data_classes)}): {', '.join(data_classes)}. "
            f"Model classes ({len(model_classes)}): {', '.join(model_classes)}. Map each unmatched class to a "
            "model class with data.folder.class_map (data set name: model name), or leave it out with "
            "data.folder.classes."
        )
    return result
