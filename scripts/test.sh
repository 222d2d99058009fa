#!/usr/bin/env bash
# The whole test suite: set up (package, dev tools, assistant CLIs, browser, container image), lint,
# type-check, test, then the VS Code extension (build, lint, unit tests, .vsix, and VS Code for the Web).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --ray --clis --browser --container

echo "== ruff"
.venv/bin/ruff check parallelai tests bench
.venv/bin/ruff format --check parallelai tests bench
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
echo "== VS Code extension"
bash scripts/test-extension.sh
