"""Where parallelai keeps its state: a per-user directory, overridable for tests and CI.

Why not platformdirs: its `user_state_dir` is ours on Linux, but on macOS and Windows it would move
the default away from `~/.local/state/parallelai`, where existing users' runs are.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from parallelai.errors import ConfigError

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
    """Create `path` readable by its owner only: runs hold prompts and results.

    The state dir, and any directory in it, that exists already with access for others (a 0755
    left by an older version, a umask, a `mkdir` by hand) is tightened to 0700; ConfigError when
    it cannot be (another user's). A directory elsewhere (the parent of a `--store` the user
    named, which may be a project or /tmp) is created private but never re-moded.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _in_state_dir(path):
        tighten_dir(path)
    return path


def tighten_dir(path: Path) -> None:
    """Make the existing directory `path` 0700 if group or others have any access to it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    try:
        path.chmod(0o700)
    except OSError as error:
        raise ConfigError(
            f"state dir {path}",
            f"its mode {mode:04o} lets other users into its runs and the daemon's discovery file, and "
            f"it cannot be made private ({error.strerror}); as its owner run `chmod 700 {path}`, or set "
            f"{STATE_DIR_ENV} to a directory of your own",
        ) from None


def _in_state_dir(path: Path) -> bool:
    home = state_dir().absolute()
    path = path.absolute()
    return path == home or home in path.parents
