"""Stable seed derivation: names and indices -> numpy SeedSequences, identical on every machine."""

from __future__ import annotations

import hashlib

import numpy as np


def name_key(name: str) -> int:
    """A stable 32-bit integer for a string (Python's hash() is salted per process, so not usable)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "little")


def seed_sequence(*parts: int | str) -> np.random.SeedSequence:
    """A SeedSequence from integers and strings; different parts give independent streams."""
    entropy = [name_key(p) if isinstance(p, str) else int(p) for p in parts]
    if any(e < 0 for e in entropy):
        raise ValueError(f"seed parts must be non-negative, got {parts!r}")
    return np.random.SeedSequence(entropy)


def derive_seed(*parts: int | str) -> int:
    """A 63-bit integer seed derived from the parts (for handing one clip's seed around)."""
    state = seed_sequence(*parts).generate_state(2, np.uint32)
    return (int(state[0]) | (int(state[1]) << 32)) & ((1 << 63) - 1)
