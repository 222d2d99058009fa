"""The `/metrics` scrape token: kept in the state dir, so it outlives daemon restarts.

The API token is new at every start (it grants full control of the daemon); Prometheus needs a
credential it can keep in its config. This one opens `GET /metrics` and nothing else, so it can
stay the same: it is drawn once, written to `metrics-token` in the state dir with mode 0600, and
read again by every daemon after. Prometheus reads it from that file (`credentials_file`), or a
copy of it. Replacing the file's content (or deleting it) changes it at the next start.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from parallelai.errors import ConfigError
from parallelai.paths import ensure_private_dir, state_dir

FILE_NAME = "metrics-token"
TOKEN_BYTES = 32
# Shorter than this, a token written by hand is refused: it could be guessed.
MIN_LENGTH = 24


def scrape_token_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / FILE_NAME


def load_scrape_token(path: Path | None = None) -> str:
    """The scrape token in `path` (default: the state dir's `metrics-token`), drawn and written
    there first if there is none. Raises ConfigError for a file that is unreadable or too short."""
    target = path or scrape_token_path()
    ensure_private_dir(target.parent)
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(target)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _read(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)  # written by hand with a umask that lets others read it
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"metrics token {path}", f"cannot read it ({error}); delete it and a new one is drawn"
        ) from None
    if len(token) < MIN_LENGTH:
        raise ConfigError(
            f"metrics token {path}",
            f"it holds {len(token)} characters, fewer than {MIN_LENGTH}; write a longer one "
            "(e.g. `openssl rand -hex 32`) or delete the file and a new one is drawn",
        )
    return token
