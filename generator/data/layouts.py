"""Listing a data set on disk: which clips it holds and their class, for each of the four layouts.

* ``ucf101``: the UCF101 / HMDB51 releases as people unpack them. UCF101: videos in class
  folders (or flat, the class in the name ``v_<Class>_gXX_cYY.avi``), ``classInd.txt``
  (``1 ApplyEyeMakeup``) and ``trainlist0N.txt`` / ``testlist0N.txt``. HMDB51: videos in class
  folders and ``<class>_test_split<N>.txt`` files whose lines end in 1 (train), 2 (test) or 0
  (unused). Split files are looked for in the root and in ``ucfTrainTestlist/``,
  ``testTrainMulti_7030_splits/`` and ``splits/`` under it.
* ``folders``: one folder per class holding video files in any container ffmpeg reads.
* ``frames``: per clip a folder of ``img_00001.jpg`` and ``flow_x_00001.jpg`` /
  ``flow_y_00001.jpg`` (or ``u/`` and ``v/`` subfolders), and a list file of lines
  ``path num_frames label`` (label a 0-based index into ``classInd.txt`` in the root, or into
  data.folder.classes without one).
* ``list``: a CSV ``path,label[,start,end]`` (label a class name; start and end in seconds).

Everything read here is untrusted: a missing split file, an empty class or an unreadable root
stops with one :class:`DataError` naming the path.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator.config import FolderDataConfig
from generator.errors import DataError

VIDEO_SUFFIXES = frozenset(
    {".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv", ".ogv"}
)
SPLIT_FOLDERS = ("", "ucfTrainTestlist", "testTrainMulti_7030_splits", "splits")
_UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g\d+_c\d+$")
_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")


@dataclass(frozen=True)
class ClipEntry:
    """One clip of the data set: a video file or a frames folder, and its class."""

    path: Path
    label: str
    kind: Literal["video", "frames"] = "video"
    num_frames: int | None = None  # frames layout: the count the list file gives
    start: float | None = None  # list layout: seconds into the video
    end: float | None = None


@dataclass(frozen=True)
class Listing:
    """The clips of one split of a data set, in list order, and its classes in label order."""

    root: Path
    classes: tuple[str, ...]
    clips: tuple[ClipEntry, ...]

    def file_list_hash(self) -> str:
        """sha256 of the listed clips (path relative to the root, class, frame count, start, end)."""
        digest = hashlib.sha256()
        for clip in self.clips:
            rel = relative_name(clip.path, self.root)
            digest.update(f"{rel}\t{clip.label}\t{clip.num_frames}\t{clip.start}\t{clip.end}\n".encode())
        return digest.hexdigest()


def list_clips(folder: FolderDataConfig) -> Listing:
    """The clips of the configured split of the data set under ``folder.root``."""
    root = _readable_root(folder.root)
    listing = {"ucf101": _ucf101, "folders": _folders, "frames": _frames, "list": _csv_list}[folder.layout](
        root, folder
    )
    if folder.classes:  # a chosen set of classes: clips of the others are left out
        listing = Listing(
            listing.root, listing.classes, tuple(c for c in listing.clips if c.label in folder.classes)
        )
    if folder.max_clips_per_class is not None:
        kept: dict[str, int] = {}
        clips = []
        for clip in listing.clips:
            if kept.get(clip.label, 0) < folder.max_clips_per_class:
                kept[clip.label] = kept.get(clip.label, 0) + 1
                clips.append(clip)
        listing = Listing(listing.root, listing.classes, tuple(clips))
    if not listing.clips:
        raise DataError(
            f"The data set under {root} lists no clips for the {folder.subset} part of split "
            f"{folder.split} (layout '{folder.layout}')."
        )
    empty = [c for c in listing.classes if not any(clip.label == c for clip in listing.clips)]
    if empty:
        raise DataError(
            f"The class {empty[0]!r} has no clips in the {folder.subset} part of split {folder.split} "
            f"under {root / empty[0]} (layout '{folder.layout}'); every listed class needs clips, "
            "or leave it out of data.folder.classes."
        )
    unknown = sorted({c.label for c in listing.clips} - set(listing.classes))
    if unknown:
        raise DataError(
            f"Clips under {root} are labelled with classes missing from the class list: "
            f"{', '.join(unknown)} (classes: {', '.join(listing.classes)})."
        )
    return listing


def _readable_root(root: Path | None) -> Path:
    if root is None:
        raise DataError("data.folder.root is empty: give the folder of the data set.")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"The data set folder {path} does not exist or is not a folder (data.folder.root).")
    try:
        next(path.iterdir(), None)
    except OSError as error:
        raise DataError(f"The data set folder {path} cannot be read: {error.strerror or error}.") from None
    return path


def relative_name(path: Path, root: Path) -> str:
    """A clip's name: its path relative to the data set's root (as given when outside it)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise DataError(f"The file {path} cannot be read: {error.strerror or error}.") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _split_folder(root: Path, names: list[str]) -> Path | None:
    """The first split folder under ``root`` that holds any of ``names`` (glob patterns)."""
    for sub in SPLIT_FOLDERS:
        folder = root / sub
        if folder.is_dir() and any(next(folder.glob(name), None) for name in names):
            return folder
    return None


def _ucf101(root: Path, folder: FolderDataConfig) -> Listing:
    n = folder.split
    hmdb = _split_folder(root, [f"*_test_split{n}.txt"])
    ucf = _split_folder(root, ["classInd.txt", f"{folder.subset}list{n:02d}.txt"])
    if ucf is None and hmdb is not None:
        return _hmdb51(root, hmdb, folder)
    where = ", ".join(str(root / s) if s else str(root) for s in SPLIT_FOLDERS)
    if ucf is None:
        raise DataError(
            f"No UCF101 split files (classInd.txt, {folder.subset}list{n:02d}.txt) nor HMDB51 "
            f"'<class>_test_split{n}.txt' files were found in {where}."
        )
    split_file = ucf / f"{folder.subset}list{n:02d}.txt"
    if not split_file.is_file():
        raise DataError(
            f"The split file {split_file} does not exist (data.folder.split = {n}, subset {folder.subset})."
        )
    index = ucf / "classInd.txt"
    names = _class_index(index) if index.is_file() or not folder.classes else tuple(folder.classes)
    clips = []
    for line in _read_lines(split_file):
        rel = line.split()[0]
        label = _ucf_class(rel, line, names, split_file)
        clips.append(ClipEntry(_video_path(root, rel, label), label))
    return Listing(root, tuple(folder.classes or names), tuple(clips))


def _class_index(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise DataError(f"The class list {path} does not exist; add it or give data.folder.classes.")
    pairs = []
    for line in _read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"The class list {path} has a line {line!r}; each line must be 'index name'.")
        pairs.append((int(parts[0]), parts[1]))
    return tuple(name for _, name in sorted(pairs))


def _ucf_class(rel: str, line: str, classes: tuple[str, ...], split_file: Path) -> str:
    parts = rel.replace("\\", "/").split("/")
    if len(parts) > 1:
        return parts[-2]
    match = _UCF_NAME.match(Path(parts[-1]).stem)
    if match:
        return match.group("cls")
    fields = line.split()
    if len(fields) > 1 and fields[1].isdigit() and 1 <= int(fields[1]) <= len(classes):
        return classes[int(fields[1]) - 1]
    raise DataError(
        f"The split file {split_file} lists {rel!r}, whose class cannot be told (no class folder, "
        "no v_<Class>_gXX_cYY name, no class number)."
    )


def _video_path(root: Path, rel: str, label: str) -> Path:
    rel = rel.replace("\\", "/")
    for candidate in (root / rel, root / label / Path(rel).name, root / Path(rel).name):
        if candidate.is_file():
            return candidate
    return root / rel  # missing: decoding reports it and the clip is skipped


def _hmdb51(root: Path, split_folder: Path, folder: FolderDataConfig) -> Listing:
    n, wanted = folder.split, "2" if folder.subset == "test" else "1"
    files = sorted(split_folder.glob(f"*_test_split{n}.txt"))
    by_class = {_HMDB_SPLIT.match(f.name).group("cls"): f for f in files}  # type: ignore[union-attr]
    classes = folder.classes or tuple(sorted(by_class))
    clips = []
    for label in classes:
        split_file = by_class.get(label)
        if split_file is None:
            raise DataError(f"The split file {split_folder / f'{label}_test_split{n}.txt'} does not exist.")
        for line in _read_lines(split_file):
            parts = line.split()
            if len(parts) >= 2 and parts[1] == wanted:
                clips.append(ClipEntry(_video_path(root, f"{label}/{parts[0]}", label), label))
    return Listing(root, tuple(classes), tuple(clips))


def _folders(root: Path, folder: FolderDataConfig) -> Listing:
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = folder.classes or tuple(found)
    clips = []
    for label in classes:
        class_dir = root / label
        if not class_dir.is_dir():
            raise DataError(
                f"The class folder {class_dir} does not exist (class {label!r} of data.folder.classes)."
            )
        videos = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise DataError(
                f"The class folder {class_dir} holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))})."
            )
        clips += [ClipEntry(v, label) for v in videos]
    return Listing(root, tuple(classes), tuple(clips))


def _list_file(root: Path, folder: FolderDataConfig, default: str) -> Path:
    path = root / (folder.list_file or default)
    if not path.is_file():
        raise DataError(f"The list file {path} does not exist (data.folder.list_file).")
    return path


def _frames(root: Path, folder: FolderDataConfig) -> Listing:
    list_file = _list_file(root, folder, "list.txt")
    # Labels index classInd.txt when there is one (data.folder.classes then picks a subset), else data.folder.classes.
    index = root / "classInd.txt"
    classes = _class_index(index) if index.is_file() or not folder.classes else tuple(folder.classes)
    clips = []
    for number, line in enumerate(_read_lines(list_file), 1):
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise DataError(
                f"Line {number} of the list file {list_file} is {line!r}; each line must be "
                "'path num_frames label' (label a 0-based class index)."
            )
        label = int(parts[2])
        if label >= len(classes):
            raise DataError(
                f"Line {number} of the list file {list_file} has label {label}, but there are only "
                f"{len(classes)} classes ({', '.join(classes)})."
            )
        path = Path(parts[0]) if Path(parts[0]).is_absolute() else root / parts[0]
        clips.append(ClipEntry(path, classes[label], "frames", num_frames=int(parts[1])))
    return Listing(root, tuple(folder.classes or classes), tuple(clips))


def _csv_list(root: Path, folder: FolderDataConfig) -> Listing:
    list_file = _list_file(root, folder, "list.csv")
    try:
        with open(list_file, newline="", encoding="utf-8", errors="replace") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except OSError as error:
        raise DataError(f"The list file {list_file} cannot be read: {error.strerror or error}.") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]  # a header
    clips = []
    for number, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if len(cells) not in (2, 4) or not cells[0] or not cells[1]:
            raise DataError(
                f"Row {number} of the list file {list_file} is {row!r}; each row must be "
                "'path,label' or 'path,label,start,end'."
            )
        start = end = None
        if len(cells) == 4:
            try:
                start, end = float(cells[2]), float(cells[3])
            except ValueError:
                start = end = -1.0
            if not 0 <= start < end:
                raise DataError(
                    f"Row {number} of the list file {list_file} has start {cells[2]!r} and end "
                    f"{cells[3]!r}; they must be seconds with 0 <= start < end."
                )
        path = Path(cells[0]) if Path(cells[0]).is_absolute() else root / cells[0]
        clips.append(ClipEntry(path, cells[1], start=start, end=end))
    classes = folder.classes or tuple(sorted({c.label for c in clips}))
    return Listing(root, tuple(classes), tuple(clips))
