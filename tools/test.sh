#!/usr/bin/env bash
# README's test command: set-up (idempotent), then the whole suite, doctests
# included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
exec .venv/bin/python -m pytest -q "$@"
