"""Per-task Claude Code config dirs (`CLAUDE_CONFIG_DIR`).

Parallel `claude` processes sharing one ~/.claude.json corrupt it, so every attempt gets a private
dir. It starts with the user's login and settings (copied, never linked, so a task cannot change
them) and, to resume a session, that session's transcript found in an earlier task's dir.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

# What a task inherits from the user's own config dir: the login and the user's settings.
INHERITED_FILES = (".credentials.json", "settings.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def user_config_dir() -> Path:
    """Where the user's own `claude` keeps its config: `$CLAUDE_CONFIG_DIR`, else ~/.claude."""
    explicit = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(explicit) if explicit else Path.home() / ".claude"


def has_login(source: Path | None) -> bool:
    return source is not None and (source / ".credentials.json").is_file()


def create_task_config_dir(
    root: Path, task_id: str, attempt: int, *, inherit_from: Path | None, resume_session: str | None
) -> Path:
    """A fresh private config dir under `root` for one attempt of one task."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{_UNSAFE.sub('_', task_id) or 'task'}-{attempt}-{uuid.uuid4().hex[:8]}"
    target = root / name
    target.mkdir(mode=0o700)
    if inherit_from is not None and inherit_from.resolve() != target.resolve():
        for file_name in INHERITED_FILES:
            source = inherit_from / file_name
            if source.is_file():
                shutil.copyfile(source, target / file_name)
                (target / file_name).chmod(0o600)
    if resume_session:
        adopt_session(root, target, resume_session)
    return target


def adopt_session(root: Path, target: Path, session_id: str) -> bool:
    """Copy the transcript of `session_id` from any task dir under `root` into `target`.

    Transcripts live in `projects/<project>/<session>.jsonl`; copying keeps the relative path, so
    `claude --resume` finds it exactly where the first task left it. Returns whether one was found.
    """
    if not re.fullmatch(r"[A-Za-z0-9-]+", session_id):
        return False  # a session id is a UUID; anything else must not become part of a glob
    for transcript in root.glob(f"*/projects/*/{session_id}.jsonl"):
        relative = transcript.relative_to(transcript.parents[2])
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(transcript, destination)
        return True
    return False
