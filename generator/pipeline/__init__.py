"""The build's stages, each idempotent and resumable: they read what earlier stages stored
and skip every result that already exists under the same key."""
