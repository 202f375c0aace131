"""The static site: atlas tables, manifest and media -> Markdown pages through templates/ -> MkDocs.

Reads only what the store wrote (generator.store: schema, parquet, manifest); knows nothing of models or the
engine. ``render_site`` builds the site, ``serve_site`` previews it, ``make_fake_atlas``
writes a fake atlas for tests, benchmarks and template work.
"""

from generator.site.build import render_site
from generator.site.fake import make_fake_atlas
from generator.site.serve import make_server, serve_site

__all__ = ["make_fake_atlas", "make_server", "render_site", "serve_site"]
