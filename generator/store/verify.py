"""Checking stored files before they are trusted: a damaged file is treated as missing.

Files are written atomically, so a finished write is complete; but a file can still be
truncated, emptied or overwritten later (a full disk, a copy that stopped, a hand edit).
Each check here reads a file the way its reader will and says what is wrong, or None:

* ``.npz`` (results, statistics, speed caches): every member decompresses with a correct
  CRC and the expected keys are there;
* ``.png``: the signature, then every chunk's length and CRC up to ``IEND`` at the very end;
* ``.mp4``: the box structure covers the file exactly, with a ``moov`` box whose video track
  lists at least one frame in its sample-size table, and exactly the number the atlas wrote
  (recorded in the file's comment tag, which a copy or re-encode keeps, so a video cut short is
  caught); the thorough check (``atlas build --verify``) also decodes the video and counts
  the frames ffmpeg reads;
* ``.parquet``: footer and every column read back; ``.json``: it parses.

:func:`discard` removes a damaged file and logs its path, so the stage that owns it
recomputes it as if it had never been written.
"""

from __future__ import annotations

import json
import logging
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import imageio_ffmpeg
import numpy as np

LOG = logging.getLogger("generator.store")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
MP4_FRAMES_TAG = "atlas-frames="
"""How generator.media.video.write_mp4 records in an MP4's comment the number of frames it wrote."""

Log = Callable[[str], None]


def npz_problem(path: Path | str, required: Iterable[str] = ()) -> str | None:
    """What is wrong with an ``.npz`` file (unreadable, a bad member, a missing key), or None."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            names = set(data.files)
            for name in data.files:
                data[name]  # decompresses and checks the member's CRC
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        return f"unreadable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    missing = [name for name in required if name not in names]
    return f"missing arrays {', '.join(missing)}" if missing else None


def result_problem(path: Path | str, thorough: bool = False) -> str | None:
    """What is wrong with a stored visualization result (see generator.store.results), or None.

    The quick check (every rerun) opens the archive (its central directory sits at the end,
    so any truncation fails here), reads the metadata and loss and every input's header
    (4-D shape); ``thorough`` (``atlas build --verify``) also decompresses every input and
    checks its CRC."""
    if thorough:
        problem = npz_problem(path, ("loss", "meta"))
        if problem:
            return problem
    try:
        with zipfile.ZipFile(Path(path)) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
            missing = [name for name in ("loss", "meta") if name not in names]
            if missing:
                return f"missing arrays {', '.join(missing)}"
            inputs = sorted(name for name in names if name.startswith("input_"))
            if not inputs:
                return "no optimised inputs"
            for name in inputs:
                with archive.open(f"{name}.npy") as member:
                    major, _ = np.lib.format.read_magic(member)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape = read_header(member)[0]
                if len(shape) != 4:
                    return f"{name} is not (C, T, H, W)"
            with archive.open("meta.npy") as member:
                meta_bytes = np.lib.format.read_array(member, allow_pickle=False).tobytes()
            with archive.open("loss.npy") as member:
                np.lib.format.read_array(member, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        return f"unreadable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    try:
        meta = json.loads(meta_bytes.decode())
    except (ValueError, UnicodeDecodeError):
        return "its metadata is not JSON"
    if not isinstance(meta, dict) or "status" not in meta or "unit_id" not in meta:
        return "its metadata lacks status or unit_id"
    return None


def png_problem(path: Path | str) -> str | None:
    """What is wrong with a PNG (signature, a chunk's length or CRC, no IEND at the end), or None."""
    try:
        blob = Path(path).read_bytes()
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if not blob.startswith(PNG_SIGNATURE):
        return "not a PNG (bad signature)"
    position, first = len(PNG_SIGNATURE), True
    while position + 12 <= len(blob):
        length, kind = struct.unpack(">I4s", blob[position : position + 8])
        end = position + 12 + length
        if end > len(blob):
            return f"truncated in its {kind.decode('latin-1')} chunk"
        crc = struct.unpack(">I", blob[end - 4 : end])[0]
        if zlib.crc32(blob[position + 4 : end - 4]) != crc:
            return f"bad CRC in its {kind.decode('latin-1')} chunk"
        if first and kind != b"IHDR":
            return "does not start with IHDR"
        first = False
        if kind == b"IEND":
            return None if end == len(blob) else "bytes after IEND"
        position = end
    return "truncated (no IEND chunk)"


def mp4_frames(path: Path | str) -> int | str:
    """The number of samples of the first track of an MP4, or what is wrong with its boxes."""
    found = _mp4_counts(path)
    return found if isinstance(found, str) else found[0]


def _mp4_counts(path: Path | str) -> tuple[int, int | None] | str:
    """(samples in the sample-size table, frames recorded in the comment tag or None), or what is
    wrong with the boxes."""
    try:
        blob = Path(path).read_bytes()
    except OSError as error:
        return f"unreadable ({error.strerror})"
    top = _boxes(blob, 0, len(blob))
    if isinstance(top, str):
        return top
    kinds = [kind for kind, _, _ in top]
    if b"ftyp" not in kinds or b"moov" not in kinds or b"mdat" not in kinds:
        return f"missing boxes (found {', '.join(k.decode('latin-1') for k in kinds) or 'none'})"
    stsz = _find(blob, top, b"stsz")
    if isinstance(stsz, str):
        return stsz
    if stsz is None or stsz[1] - stsz[0] < 12:
        return "no sample-size table"
    return struct.unpack(">I", blob[stsz[0] + 8 : stsz[0] + 12])[0], _recorded_frames(blob, top)


def _recorded_frames(blob: bytes, top: list[tuple[bytes, int, int]]) -> int | None:
    """The frame count in the comment tag (moov/udta/meta/ilst/\xa9cmt/data), or None without one."""
    box = next(((s, e) for kind, s, e in top if kind == b"moov"), None)
    # meta is a full box: 4 bytes of version and flags before its children; data has 8 (type, locale).
    for kind, skip in ((b"udta", 0), (b"meta", 4), (b"ilst", 0), (b"\xa9cmt", 0), (b"data", 0)):
        if box is None:
            return None
        children = _boxes(blob, box[0], box[1])
        if isinstance(children, str):
            return None
        box = next(((s + skip, e) for k, s, e in children if k == kind), None)
    if box is None or box[1] - box[0] < 8:
        return None
    text = blob[box[0] + 8 : box[1]].decode("utf-8", "replace")
    digits = text.removeprefix(MP4_FRAMES_TAG)
    return int(digits) if text.startswith(MP4_FRAMES_TAG) and digits.isdigit() else None


def mp4_problem(path: Path | str, frames: int | None = None, thorough: bool = False) -> str | None:
    """What is wrong with an MP4 (boxes that do not cover the file, no frames, a count other than
    ``frames`` or than the one recorded at write time), or None. ``thorough`` also decodes it all."""
    found = _mp4_counts(path)
    if isinstance(found, str):
        return found
    listed, recorded = found
    expected = frames if frames is not None else recorded
    if listed < 1:
        return "no frames"
    if expected is not None and listed != expected:
        return f"{listed} frames, expected {expected}"
    if thorough:
        try:
            decoded = imageio_ffmpeg.count_frames_and_secs(str(path))[0]
        except (RuntimeError, OSError) as error:
            return f"does not decode ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
        if decoded != listed:
            return f"{decoded} frames decode, {listed} listed"
    return None


def parquet_problem(path: Path | str) -> str | None:
    """What is wrong with a Parquet file (footer or a column that does not read back), or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.read_table(Path(path))
    except (OSError, pa.ArrowException) as error:
        return f"unreadable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    return None


def file_problem(path: Path | str, thorough: bool = False) -> str | None:
    """The check that fits the file's kind (by suffix); None for kinds without a check. ``thorough``
    (``atlas build --verify``) also decodes videos."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return result_problem(path, thorough=True) if _in_results(Path(path)) else npz_problem(path)
    if suffix == ".png":
        return png_problem(path)
    if suffix == ".mp4":
        return mp4_problem(path, thorough=thorough)
    if suffix == ".parquet":
        return parquet_problem(path)
    if suffix == ".json":
        return json_problem(path)
    return None


def json_problem(path: Path | str) -> str | None:
    """What is wrong with a JSON file (manifest, marker), or None."""
    try:
        json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"not valid JSON ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    return None


def discard(path: Path | str, problem: str, log: Log | None = None) -> None:
    """Remove a damaged file and say so (with its path), so that it is recomputed like a missing one."""
    Path(path).unlink(missing_ok=True)
    message = f"Damaged file {path} ({problem}): removed, it will be recomputed."
    (log or LOG.warning)(message)


def sound(
    path: Path | str, check: Callable[[Path], str | None], log: Log | None = None, remove: bool = True
) -> bool:
    """True when ``path`` exists and passes ``check``. A damaged file is logged and, when
    ``remove``, discarded (a reader that does not recompute it, e.g. a dry run, keeps it)."""
    target = Path(path)
    if not target.is_file():
        return False
    problem = check(target)
    if problem is None:
        return True
    if remove:
        discard(target, problem, log)
    else:
        (log or LOG.warning)(f"Damaged file {target} ({problem}): left out until it is recomputed.")
    return False


def verify_folder(
    root: Path | str, heal: bool, log: Log | None = None, skip: Iterable[str] = ("site",)
) -> list[tuple[Path, str]]:
    """Check every stored file under the output folder ``root`` (results, statistics, videos,
    images, tables); return (path, problem) of each damaged one. ``heal`` removes them (and
    says so), so the next build recomputes exactly those. Folders named in ``skip`` (the site,
    rebuilt from the rest) are left alone."""
    base = Path(root)
    skipped = {base / name for name in skip}
    damaged = []
    for path in sorted(base.rglob("*")):
        if not path.is_file() or any(folder in path.parents for folder in skipped):
            continue
        problem = file_problem(path, thorough=True)
        if problem is None:
            continue
        damaged.append((path, problem))
        if heal:
            discard(path, problem, log)
        elif log is not None:
            log(f"Damaged file {path} ({problem}).")
    return damaged


def _in_results(path: Path) -> bool:
    from generator.store.results import RESULTS_DIR

    return RESULTS_DIR in path.parts


def _boxes(blob: bytes, start: int, end: int) -> list[tuple[bytes, int, int]] | str:
    """(type, payload start, payload end) of the boxes that exactly fill blob[start:end]."""
    boxes, position = [], start
    while position < end:
        if position + 8 > end:
            return "truncated box header"
        size, kind = struct.unpack(">I4s", blob[position : position + 8])
        header = 8
        if size == 1:
            if position + 16 > end:
                return "truncated box header"
            size, header = struct.unpack(">Q", blob[position + 8 : position + 16])[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            return f"truncated in its {kind.decode('latin-1')} box"
        boxes.append((kind, position + header, position + size))
        position += size
    return boxes


def _find(blob: bytes, boxes: list[tuple[bytes, int, int]], wanted: bytes) -> tuple[int, int] | str | None:
    for kind, start, end in boxes:
        if kind == wanted:
            return start, end
        if kind in _MP4_CONTAINERS:
            inner = _boxes(blob, start, end)
            if isinstance(inner, str):
                return inner
            found = _find(blob, inner, wanted)
            if found is not None:
                return found
    return None
