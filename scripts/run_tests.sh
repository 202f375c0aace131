#!/usr/bin/env bash
# Quick start (b): set up .venv and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# The browser test drives the system's headless Chromium (never a downloaded one).
# Install it where we may; elsewhere that single test is skipped with its reason.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser test ..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "Could not install chromium; the browser test will be skipped."
fi
# Lint and format are part of the suite: a file ruff would change fails it.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
