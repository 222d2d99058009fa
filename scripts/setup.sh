#!/usr/bin/env bash
# Set up everything parallelai needs on a fresh machine: a virtualenv with the package and its
# dev tools, and (with --clis) the assistant CLIs the end-to-end tests drive. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Quiet when nothing changes; pip prints what it installs otherwise.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

if [ "${1:-}" = "--clis" ]; then
  bash scripts/install-clis.sh
fi
