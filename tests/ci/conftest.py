"""The sample repository both action tests run in, and the scripted model server for the documented
workflows, which run real engines against it."""

from pathlib import Path

import pytest

from tests.support.fixtures import model_server  # noqa: F401


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A small repository as GITHUB_WORKSPACE: a shell-injection finding to be had in src/shell.py,
    and the tasks file the documented nightly workflow names."""
    workspace = tmp_path / "sample"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "shell.py").write_text("import os\n\n\ndef run(cmd):\n    os.system(cmd)\n")
    (workspace / "src" / "maths.py").write_text('"""Sums."""\n\n\ndef add(a, b):\n    return a + b\n')
    (workspace / ".parallelai").mkdir()
    (workspace / ".parallelai" / "tasks.yaml").write_text(
        "name: nightly\ntasks:\n  - {id: hello, prompt: say hello}\n  - {id: bye, prompt: say goodbye}\n"
    )
    return workspace
