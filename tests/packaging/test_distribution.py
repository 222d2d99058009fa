"""The release artefacts: the sdist and wheel build, pass `twine check`, install and run; versions agree."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

import parallelai

ROOT = Path(__file__).resolve().parents[2]

# Package data a user gets nothing without: the template library, the dashboard, the MCP manifest.
PACKAGE_DATA = (
    "parallelai/templates/library/code_review.yaml",
    "parallelai/templates/library/security_audit.yaml",
    "parallelai/templates/library/test_generation.yaml",
    "parallelai/templates/library/documentation.yaml",
    "parallelai/server/http/static/dashboard.html",
    "parallelai/server/mcp/manifest.json",
)


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` as a release does it: the sdist first, then the wheel built from that sdist,
    so a file missing from the sdist breaks the wheel too. No isolation: the backend comes from the
    dev tools, so the build needs no network."""
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=ROOT)
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


@pytest.mark.e2e
def test_the_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    artefacts = sorted(dist.iterdir())
    assert sorted(path.suffix for path in artefacts) == [".gz", ".whl"]
    _run(sys.executable, "-m", "twine", "check", "--strict", *artefacts, cwd=dist)


@pytest.mark.e2e
def test_the_wheel_and_sdist_carry_templates_dashboard_and_manifest(dist: Path) -> None:
    wheel = set(zipfile.ZipFile(_one(dist, "*.whl")).namelist())
    sdist_archive = _one(dist, "*.tar.gz")
    prefix = sdist_archive.name.removesuffix(".tar.gz")
    with tarfile.open(sdist_archive) as archive:
        sdist = {name.removeprefix(f"{prefix}/") for name in archive.getnames()}
    for name in PACKAGE_DATA:
        assert name in wheel
        assert name in sdist
    # The editors' template schema is published from the package and kept beside the docs.
    assert "docs/template.schema.json" in sdist
    assert not [name for name in wheel | sdist if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.e2e
def test_the_wheel_installs_into_a_fresh_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
         _one(dist, "*.whl"), cwd=tmp_path)  # fmt: skip
    # The dependencies are borrowed from the dev venv (appended after the fresh venv's own
    # site-packages), so the test needs no network; the package, its data, its console script and
    # its entry points all come from the wheel. The dev venv's editable hook is not processed.
    fresh_site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip()
    )
    (fresh_site / "_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)  # nothing but the wheel and the borrowed dependencies
    where = _run(python, "-c", "import parallelai; print(parallelai.__file__)", cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(fresh_site)

    assert _run(venv / "bin" / "parallelai", "--version", cwd=tmp_path, env=env).strip() == (
        f"parallelai {parallelai.__version__}"
    )
    report = json.loads(
        _run(venv / "bin" / "parallelai", "run", "--engine", "echo", "hi", "--json", cwd=tmp_path, env=env)
    )
    assert report["state"] == "succeeded"
    assert report["tasks"][0]["result"]["text"] == "echo: hi"
    schema = json.loads(_run(venv / "bin" / "parallelai", "templates", "schema", cwd=tmp_path, env=env))
    assert schema["type"] == "object"


def test_versions_agree_across_package_extension_plugin_and_action() -> None:
    extension = json.loads((ROOT / "vscode-extension" / "package.json").read_text())
    plugin = json.loads((ROOT / "claude-plugin" / ".claude-plugin" / "plugin.json").read_text())
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    (run_step,) = [step for step in action["runs"]["steps"] if step.get("id") == "run"]
    action_version = run_step["env"]["PARALLELAI_ACTION_VERSION"]
    # The workflows docs/github-action.md shows use the action at this release's tag.
    documented = re.findall(
        r"uses: parallelai/parallelai@v(\S+)", (ROOT / "docs" / "github-action.md").read_text()
    )
    assert documented
    assert {
        "python": parallelai.__version__,
        "vscode-extension": extension["version"],
        "claude-plugin": plugin["version"],
        "action": action_version,
        "documented workflows": ",".join(sorted(set(documented))),
    } == dict.fromkeys(
        ("python", "vscode-extension", "claude-plugin", "action", "documented workflows"),
        parallelai.__version__,
    )


def test_the_extension_is_published_as_parallelai_orchestrator() -> None:
    extension = json.loads((ROOT / "vscode-extension" / "package.json").read_text())
    assert f"{extension['publisher']}.{extension['name']}" == "parallelai.orchestrator"
    # Both the Marketplace and Open VSX need these to list an extension.
    for field in ("displayName", "description", "license", "repository", "engines", "categories"):
        assert extension[field]
