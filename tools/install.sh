#!/usr/bin/env bash
# Set-up for a fresh machine: system packages, then a virtual environment in
# .venv with the pinned requirements and this package (editable).
# Idempotent and quick when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install_system_deps.sh

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.emoinv-installed
want="$(cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install -q -r requirements.txt \
        -r requirements-dev.txt
    .venv/bin/python -m pip install -q --no-deps -e .
    echo "$want" > "$stamp"
fi
echo "[install] ready: $(.venv/bin/python -c 'import torch, speechbrain;
print("torch", torch.__version__, "speechbrain", speechbrain.__version__)')"
