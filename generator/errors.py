"""User-facing errors: the CLI prints their message as one paragraph, without a traceback."""

from __future__ import annotations


class AtlasError(Exception):
    """A problem the user can fix (bad input, missing file, wrong shape); the message says how."""


class ConfigError(AtlasError):
    """The configuration file or a command-line override is invalid."""


class CheckpointError(AtlasError):
    """A checkpoint is missing, unreadable or does not fit the architecture."""


class ModelError(AtlasError):
    """A model cannot be built, imported or described."""


class DataError(AtlasError):
    """A data set on disk is missing, unreadable, or does not fit the model."""
