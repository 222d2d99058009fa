"""Where parallelai keeps its state: a per-user directory, overridable for tests and CI.

Why not platformdirs: its `user_state_dir` is ours on Linux, but on macOS and Windows it would move
the default away from `~/.local/state/parallelai`, where existing users' runs are.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "PARALLELAI_STATE_DIR"
STORE_ENV = "PARALLELAI_STORE"
CONFIG_ENV = "PARALLELAI_CONFIG"
PROJECT_CONFIG = Path(".parallelai") / "config.toml"


def state_dir() -> Path:
    """`$PARALLELAI_STATE_DIR`, else `$XDG_STATE_HOME/parallelai`, else `~/.local/state/parallelai`."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "parallelai"


def user_config_path() -> Path:
    """The user's config file: `$PARALLELAI_CONFIG`, else `config.toml` in the state dir."""
    explicit = os.environ.get(CONFIG_ENV)
    return Path(explicit) if explicit else state_dir() / "config.toml"


def default_store_path() -> Path:
    explicit = os.environ.get(STORE_ENV)
    return Path(explicit) if explicit else state_dir() / "parallelai.db"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` readable by its owner only: runs hold prompts and results."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
