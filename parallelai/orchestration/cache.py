"""Cache keys for incremental re-runs: a task is reused when everything that shapes its answer is unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parallelai.models import Task

# Options that change how a task is run, not what it answers.
_NOT_IN_KEY = {"timeout", "retries"}


def fingerprint(
    task: Task,
    prompt: str,
    engine: str,
    settings: Mapping[str, Any],
    workdir: Path,
    source: Mapping[str, str] | None = None,
) -> str:
    """Hash of the rendered prompt, engine spec and settings, where the answer comes from (the
    engine's `answer_source`: model, endpoint, CLI version), answer-shaping options and input files.

    Reads the input files: call it off the event loop when the task has any.
    """
    digest = hashlib.sha256()
    key = {
        "prompt": prompt,
        "engine": engine,
        "settings": settings,
        "source": dict(source or {}),
        "options": task.options.model_dump(mode="json", exclude=_NOT_IN_KEY),
        "files": sorted(task.files),
    }
    digest.update(json.dumps(key, sort_keys=True, default=str).encode())
    for name in sorted(task.files):
        digest.update(b"\0")
        digest.update((workdir / name).read_bytes())
    return digest.hexdigest()
