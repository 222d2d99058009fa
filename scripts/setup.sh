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

# The web dashboard test drives the distribution's Chromium through Playwright (which never
# downloads a browser of its own); the terminal dashboard test can use tmux. apt only runs when
# one of them is missing.
if [ "$browser" = 1 ] && { [ ! -x /usr/bin/chromium ] || ! command -v tmux >/dev/null; }; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium tmux >/dev/null
fi
