"""The static site: atlas tables, manifest and media -> Markdown pages through templates/ -> MkDocs.

Reads only what the store wrote (generator.store: schema, parquet, manifest); knows nothing of models or the
engine. ``render_site`` builds the site, ``serve_site`` previews it. (A synthetic atlas for
tests, benchmarks and template work: tests/support/site_data.py.)
"""

from generator.site.build import render_site
from generator.site.serve import make_server, serve_site

__all__ = ["make_server", "render_site", "serve_site"]
