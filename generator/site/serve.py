"""Preview a built site over HTTP on this machine (the search and videos need a server, not file://).

A small threaded static server with HTTP range requests, which browsers use to stream and
loop videos. It serves exactly the built folder, as a static host would: folders without an
index.html are not listed.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from generator.errors import AtlasError

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus single byte ranges (``Range: bytes=a-b``) and quiet logs."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mp4": "video/mp4",
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass

    def list_directory(self, path):  # type: ignore[no-untyped-def]
        # A folder without index.html is not a page: answer 404 like a static host, never list it.
        self.send_error(HTTPStatus.NOT_FOUND, "Not found")
        return None

    def send_head(self):  # type: ignore[no-untyped-def]
        match = _RANGE.match(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if not match or os.path.isdir(path) or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, last = match.groups()
        if first == "":  # suffix range: the last N bytes
            start, end = max(size - int(last or 0), 0), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            return None
        handle = open(path, "rb")  # noqa: SIM115 - closed by the base class after copyfile
        handle.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return handle

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        self._remaining = None
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")  # tells browsers they may stream and seek videos
        super().end_headers()


def make_server(site_dir: Path | str, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server for the built site in ``site_dir`` (port 0 picks a free port: see ``server.server_address``)."""
    folder = Path(site_dir)
    if not (folder / "index.html").is_file():
        raise AtlasError(f"{folder} holds no built site (no index.html); run `atlas site` first.")
    handler = partial(RangeRequestHandler, directory=str(folder))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        raise AtlasError(f"Cannot serve on {host}:{port} ({error}); choose another port.") from None


@contextmanager
def serving(site_dir: Path | str, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve the built site from a background thread for the block; yields its base URL."""
    server = make_server(site_dir, host, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def serve_site(site_dir: Path | str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the built site until interrupted (Ctrl-C); prints its address."""
    server = make_server(site_dir, host, port)
    address, chosen = server.server_address[:2]
    print(f"Serving {Path(site_dir)} at http://{address}:{chosen}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
