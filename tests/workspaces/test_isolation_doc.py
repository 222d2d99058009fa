"""docs/isolation.md's Python example runs as written, on a real repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.workspaces._repo import git, registered_worktrees

pytestmark = pytest.mark.anyio

DOC = Path(__file__).resolve().parents[2] / "docs" / "isolation.md"


async def test_the_isolation_guides_example_runs_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / "app.py").write_text("def main():\n    return 1\n")
    git(repo, "add", "app.py")
    git(repo, "commit", "--quiet", "-m", "first")
    example = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]  # the workspaces one

    code = compile(example, str(DOC), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    await eval(code, {"repo": repo, "run_id": "r-doc"})

    assert capsys.readouterr().out.splitlines() == [
        "2 files changed, 2 insertions(+), 1 deletion(-)",
        "changed 1 file outside its scope (app.py): setup.cfg; "
        "widen its scope, or tell it in its prompt to leave those files alone",
    ]
    assert registered_worktrees(repo) == [repo]
