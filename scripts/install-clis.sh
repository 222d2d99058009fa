#!/usr/bin/env bash
# Install the real assistant CLIs the engine tests drive, at pinned exact versions, into .tools/npm.
#
# npm would otherwise pick "the newest version that accepts this Node", which drifts; the tests are
# written against these exact versions. Idempotent: when every package is already at its pinned
# version it returns without touching the network.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${PARALLELAI_TOOLS_DIR:-$root/.tools/npm}"

packages=(
  "@anthropic-ai/claude-code@2.1.197"
  "@openai/codex@0.169.0"
  "@google/gemini-cli@0.61.0"
  "@github/copilot@1.0.102"
  "@modelcontextprotocol/inspector@0.15.0"
)

installed_version() {
  # The version recorded in the installed package.json, or nothing when it is missing.
  local manifest="$prefix/node_modules/$1/package.json"
  [[ -f "$manifest" ]] || return 0
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest"
}

missing=()
for spec in "${packages[@]}"; do
  name="${spec%@*}"
  want="${spec##*@}"
  have="$(installed_version "$name")"
  if [[ "$have" != "$want" ]]; then
    missing+=("$spec")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-clis: all CLIs at their pinned versions in $prefix"
  exit 0
fi

command -v npm >/dev/null || { echo "install-clis: npm is not installed (need Node.js 20+)" >&2; exit 1; }
mkdir -p "$prefix"
echo "install-clis: installing ${missing[*]} into $prefix"
# One npm call for all of them: one dependency resolution and one lock file. --save-exact keeps the
# prefix's package.json pinned too, so a later plain `npm install` there cannot drift.
npm install --prefix "$prefix" --no-audit --no-fund --save-exact "${packages[@]}"

for spec in "${packages[@]}"; do
  name="${spec%@*}"
  want="${spec##*@}"
  have="$(installed_version "$name")"
  if [[ "$have" != "$want" ]]; then
    echo "install-clis: $name is at '${have:-missing}', expected $want" >&2
    exit 1
  fi
done
echo "install-clis: done; binaries are in $prefix/node_modules/.bin"
