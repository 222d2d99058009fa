#!/usr/bin/env bash
# The VS Code extension's whole check: install, build, lint, unit tests, the .vsix, and the
# extension in the real VS Code for the Web (headless Chromium) against a real daemon.
# Idempotent; prints little when nothing changed. Needs .venv/bin/parallelai (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../vscode-extension"

# Playwright drives Debian's Chromium: it must never try to download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# npm ci only when node_modules was not installed from this very lock file.
stamp=node_modules/.parallelai-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
  echo "== npm ci"
  npm ci --loglevel=error
  echo "$want" >"$stamp"
fi

# The browser for the web test: Debian's headless shell, installed once.
if ! dpkg-query -W -f='${Status}' chromium-headless-shell 2>/dev/null | grep -q "install ok installed"; then
  echo "== apt-get install chromium-headless-shell"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium-headless-shell >/dev/null
fi

echo "== build"
npm run --silent build
echo "== lint (tsc strict, web code without Node types, eslint)"
npm run --silent lint
echo "== unit tests"
npm run --silent test
echo "== package"
npm run --silent package
echo "== VS Code for the Web"
npm run --silent test:web
