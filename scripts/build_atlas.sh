#!/usr/bin/env bash
# Quick start (a): set up .venv and build the default atlas. Extra arguments go to `atlas build`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/atlas build "$@"
