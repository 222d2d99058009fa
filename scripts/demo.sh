#!/usr/bin/env bash
# The main job: set up, then run the example work on the embedded store and show the result.
# Uses the echo engine unless PARALLELAI_ENGINE names another (e.g. claude-code).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
engine="${PARALLELAI_ENGINE:-echo}"
echo "== parallelai: 200-task review pipeline on the '$engine' engine (store: ${PARALLELAI_STORE:-user state dir})"
.venv/bin/parallelai run --tasks-file examples/review-pipeline.yaml --engine "$engine" --parallel 50 "$@"
.venv/bin/parallelai runs --limit 3
