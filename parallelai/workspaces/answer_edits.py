"""The answer is the edit: what an engine without tools answered, made into a change of its task's
worktree — a unified diff applied with `git apply`, or one fenced block as the one file's content.

An API engine (openai, anthropic, ollama) only answers; it cannot write a file. In a run with
isolation its answer is read as the edit (docs/isolation.md, "Engines without tools"):

1. a patch: every ```diff / ```patch fenced block (or any fenced block that starts like a diff,
   `--- ` or `diff --git `), or the whole answer when it starts like one, applied at once with
   `git apply --recount` (models rarely count hunk lines right), paths relative to the run's
   directory, with git's `a/` `b/` prefixes or without;
2. else, for a task whose `files` name exactly one file (not a glob), an answer with exactly one
   fenced block: the block is the file's new content;
3. else nothing changes.

The answer is the whole edit: the worktree is first put back to the commit it started at (what an
earlier answer of the task left there goes; files git ignores stay), since the model answers
against the files as they are there, not as its previous answer left them — a gate's re-run, say.
A patch that does not apply changes nothing and comes back as the reason, in git's words.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from parallelai.errors import WorkspaceError
from parallelai.workspaces._git import git

_OPENING = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s{]*)(?P<rest>.*)$")
_DIFF_TAGS = frozenset({"diff", "patch", "udiff"})
_DIFF_STARTS = ("--- ", "diff --git ")
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class FencedBlock:
    """A Markdown fenced code block: its info string's first word, lower-cased, and its lines."""

    tag: str
    body: str

    @property
    def is_diff(self) -> bool:
        return self.tag in _DIFF_TAGS or _starts_like_a_diff(self.body)


async def edit_from_answer(worktree: Path, answer: str, files: Sequence[str], subdir: str = "") -> str | None:
    """Make `answer` into the change of the task's `worktree` (its top; the run's directory is
    `subdir` inside it, where `files` and the patch's paths are relative to); why it could not be
    (a patch that does not apply), or None — also when the answer holds no edit."""
    try:
        await git(worktree, "reset", "--hard", "--quiet", "HEAD")
        await git(worktree, "clean", "-d", "--force", "--quiet")
    except WorkspaceError as error:
        return f"its worktree could not be put back to where it started for its answer's edit: {error}"
    blocks = fenced_blocks(answer)
    patches = [block.body for block in blocks if block.is_diff]
    if not patches and _starts_like_a_diff(answer):
        patches = [answer.strip("\n") + "\n"]
    if patches:
        return await _apply(worktree, _with_file_modes("".join(_ended(patch) for patch in patches)), subdir)
    if len(files) == 1 and len(blocks) == 1 and not _GLOB_CHARACTERS.intersection(files[0]):
        return await _write(worktree / subdir, files[0], blocks[0].body)
    return None


def fenced_blocks(text: str) -> list[FencedBlock]:
    """The fenced code blocks of Markdown `text`, in order; one left open runs to the end."""
    blocks: list[FencedBlock] = []
    lines = text.splitlines(keepends=True)
    at = 0
    while at < len(lines):
        opening = _OPENING.match(lines[at].rstrip("\r\n"))
        at += 1
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"] + opening["rest"]):
            continue  # not a fence (a backtick fence's info string has no backtick: "```x```" is code)
        fence = opening["fence"]
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[str] = []
        while at < len(lines) and not closing.match(lines[at].rstrip("\r\n")):
            body.append(lines[at])
            at += 1
        at += 1  # past the closing fence
        blocks.append(FencedBlock(opening["info"].lower(), "".join(body)))
    return blocks


async def _apply(worktree: Path, patch: str, subdir: str) -> str | None:
    args = ["apply", "--recount", "--whitespace=nowarn", f"-p{1 if _has_prefixes(patch) else 0}"]
    if subdir:
        args.append(f"--directory={subdir}")
    # Outside the worktree, so the patch file is no part of the change it makes.
    with tempfile.TemporaryDirectory(prefix="parallelai-answer-") as scratch:
        path = Path(scratch) / "answer.patch"
        await anyio.Path(path).write_text(patch, encoding="utf-8")
        try:
            await git(worktree, *args, str(path))
        except WorkspaceError as error:
            named = ", ".join(_patched_paths(patch)) or "no file it names"
            words = error.stderr or str(error)
            return f"the patch in its answer does not apply ({named}), so nothing was changed: {words}"
    return None


async def _write(workdir: Path, name: str, content: str) -> str | None:
    target = workdir / name
    if not (await anyio.Path(target).resolve()).is_relative_to(await anyio.Path(workdir).resolve()):
        return f"its answer is the content of {name}, which is outside its directory; nothing was written"
    try:
        await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
        await anyio.Path(target).write_text(content, encoding="utf-8")
    except OSError as error:
        return f"its answer is the content of {name}, which could not be written: {error}"
    return None


def _starts_like_a_diff(text: str) -> bool:
    return text.lstrip("\n").startswith(_DIFF_STARTS)


def _ended(patch: str) -> str:
    return patch if patch.endswith("\n") else patch + "\n"


def _with_file_modes(patch: str) -> str:
    """`patch` with `new file mode` (`deleted file mode`) added to a git diff header that creates
    (deletes) a file without saying so, as models write them: git would take /dev/null for a path."""
    lines = patch.splitlines(keepends=True)
    completed: list[str] = []
    header: list[str] | None = None  # the current `diff --git` section's lines before its `---`
    for at, line in enumerate(lines):
        if line.startswith("diff --git "):
            header = []
        elif header is not None and line.startswith("--- ") and at + 1 < len(lines):
            if not any(seen.startswith(("new file mode", "deleted file mode")) for seen in header):
                if _header_path(line) == "/dev/null":
                    completed.append("new file mode 100644\n")
                elif _header_path(lines[at + 1]) == "/dev/null":
                    completed.append("deleted file mode 100644\n")
            header = None
        elif header is not None:
            header.append(line)
        completed.append(line)
    return "".join(completed)


def _header_path(line: str) -> str:
    """The path of a `--- ` or `+++ ` line, without the timestamp a tab may add."""
    return line[4:].split("\t", 1)[0].strip()


def _header_paths(patch: str) -> list[tuple[str, str]]:
    """The (`---` or `+++`, path) of each file header, without its timestamp; /dev/null left out."""
    found = []
    for line in patch.splitlines():
        if line.startswith(("--- ", "+++ ")):
            path = _header_path(line)
            if path != "/dev/null":
                found.append((line[:3], path))
    return found


def _has_prefixes(patch: str) -> bool:
    """Whether the patch's paths carry git's `a/` and `b/` (else they are paths as they are)."""
    headers = _header_paths(patch)
    if headers:
        return all(path.startswith("a/" if side == "---" else "b/") for side, path in headers)
    gits = [line.split() for line in patch.splitlines() if line.startswith("diff --git ")]
    return all(len(words) == 4 and words[2].startswith("a/") and words[3].startswith("b/") for words in gits)


def _patched_paths(patch: str) -> list[str]:
    strip = _has_prefixes(patch)
    paths = dict.fromkeys(path[2:] if strip else path for _, path in _header_paths(patch))
    return list(paths)
