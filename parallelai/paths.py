"""Where parallelai keeps its state: a per-user directory, overridable for tests and CI."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "PARALLELAI_STATE_DIR"
STORE_ENV = "PARALLELAI_STORE"


def state_dir() -> Path:
    """`$PARALLELAI_STATE_DIR`, else `$XDG_STATE_HOME/parallelai`, else `~/.local/state/parallelai`."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "parallelai"


def default_store_path() -> Path:
    explicit = os.environ.get(STORE_ENV)
    return Path(explicit) if explicit else state_dir() / "parallelai.db"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` readable by its owner only: runs hold prompts and results."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
