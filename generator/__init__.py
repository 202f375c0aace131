"""The feature atlas for video action-recognition networks."""

__version__ = "0.1.0"
