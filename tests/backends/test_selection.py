"""Choosing a backend: a flag, the tasks file, config and the environment name it; Ray stays optional
(never imported unless a run names it, and a clear way to install it when it is missing)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from parallelai.config import load_defaults
from parallelai.models import Backend, RayOptions
from parallelai.planning import plan_request
from parallelai.run_request import build_request


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("ray", Backend(name="ray")),
        ("local", Backend()),
        ({"ray": {"address": "auto"}}, Backend(name="ray", ray=RayOptions(address="auto"))),
        ({"ray": None}, Backend(name="ray", ray=RayOptions())),
        ({"name": "ray", "ray": {"address": "h:1"}}, Backend(name="ray", ray=RayOptions(address="h:1"))),
    ],
)
def test_a_backend_is_written_as_a_name_or_a_mapping_of_its_options(written: object, meant: Backend) -> None:
    assert Backend.model_validate(written) == meant


def test_an_unknown_backend_or_misplaced_options_are_refused() -> None:
    with pytest.raises(ValidationError):
        Backend.model_validate("dask")
    with pytest.raises(ValidationError, match="ray backend"):
        Backend.model_validate({"name": "local", "ray": {"address": "auto"}})


def test_a_tasks_file_names_its_backend_and_a_flag_wins_over_it(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("backend: {ray: {address: 'head:6379'}}\ntasks: [one, two]\n")

    from_file = plan_request(build_request(tasks_file=str(tasks)))
    flagged = plan_request(build_request(tasks_file=str(tasks), backend="local"))

    assert from_file.backend == Backend(name="ray", ray=RayOptions(address="head:6379"))
    assert flagged.backend == Backend()


def test_a_bad_backend_in_a_tasks_file_says_where(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("backend: {ray: {adress: x}}\ntasks: [one]\n")
    with pytest.raises(Exception, match="backend"):
        plan_request(build_request(tasks_file=str(tasks)))


def test_config_and_the_environment_choose_the_backend_and_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / ".parallelai").mkdir(parents=True)
    (project / ".parallelai" / "config.toml").write_text(
        '[run]\nbackend = "ray"\n[ray]\naddress = "head:6379"\nresources = {claude-code = {claude = 1}}\n'
    )
    ray = Backend(name="ray", ray=RayOptions(address="head:6379", resources={"claude-code": {"claude": 1}}))
    assert load_defaults(project).run.backend == ray
    # `--backend ray` keeps the config's cluster; the environment can turn it back to local.
    spec = plan_request(build_request(prompts=["hi"], workdir=str(project), backend="ray"))
    assert spec.backend == ray
    monkeypatch.setenv("PARALLELAI_BACKEND", "local")
    assert load_defaults(project).run.backend == Backend()


def test_without_ray_installed_a_ray_run_is_refused_with_how_to_install_it(tmp_path: Path) -> None:
    script = """
        import sys
        sys.modules["ray"] = None  # as if not installed
        from parallelai.cli.entry import main
        sys.exit(main(["run", "--engine", "echo", "--backend", "ray", "hi"]))
    """
    done = _python(script, tmp_path)
    assert done.returncode == 2
    assert 'pip install "parallelai[ray]"' in done.stderr


def test_the_cli_and_a_local_run_never_import_ray(tmp_path: Path) -> None:
    script = """
        import sys
        import parallelai.cli.entry
        from parallelai.cli.entry import main
        code = main(["run", "--engine", "echo", "--no-cache", "hello"])
        print("ray imported" if "ray" in sys.modules else "no ray", code)
    """
    done = _python(script, tmp_path)
    assert done.stdout.splitlines()[-1] == "no ray 0", done.stderr


def _python(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, capture_output=True, text=True, timeout=120
    )
