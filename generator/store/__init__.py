"""Result storage: atomic file writes (and, as the pipeline grows, result keys and tables)."""
