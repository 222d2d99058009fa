"""The template verbs read the project's `.parallelai/config.toml`, as `parallelai init` writes it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.templates.conftest import run_count

Cli = Callable[[Sequence[str]], int]


# What these tests put in config files must count: the environment names no engine over them.
pytestmark = pytest.mark.usefixtures("no_engine_named")


def initialised(repo: Path, cli: Cli, run_lines: str = "", report_lines: str = "") -> Path:
    """`parallelai init` in `repo`, with lines added to its `[run]` and `[report]` tables."""
    assert cli(["init", "-C", str(repo)]) == 0
    config = repo / ".parallelai" / "config.toml"
    text = config.read_text()
    assert "[run]\n" in text
    assert "[report]\n" in text
    config.write_text(
        text.replace("[run]\n", f"[run]\n{run_lines}").replace("[report]\n", f"[report]\n{report_lines}")
    )
    return config


def test_the_engine_init_s_config_names_is_the_one_the_verbs_use(
    repo: Path, store_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    config = initialised(repo, cli, 'engine = "nonexistent-engine"\n')
    capsys.readouterr()

    assert cli(["review", "-C", str(repo), "--path", "app"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: [run] engine: unknown engine 'nonexistent-engine'" in err
    assert run_count(store_path) == 0

    config.write_text(config.read_text().replace('"nonexistent-engine"', '"echo"'))
    assert cli(["review", "-C", str(repo), "--path", "app", "--dry-run", "--json"]) == 0
    assert {task["engine"] for task in json.loads(capsys.readouterr().out)["tasks"]} == {"echo"}


def test_an_unknown_key_in_the_config_is_refused_with_its_location(
    repo: Path, store_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    config = initialised(repo, cli, "paralell = 4\n")
    capsys.readouterr()

    assert cli(["review", "-C", str(repo), "--engine", "echo"]) == 2
    assert (
        f"{config}: [run] paralell: unknown key; the keys of [run] are: engine, parallel"
        in capsys.readouterr().err
    )
    assert run_count(store_path) == 0


def test_a_flag_beats_the_config_and_the_config_beats_the_built_in_default(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    initialised(repo, cli, 'engine = "echo"\n')
    config = repo / ".parallelai" / "config.toml"
    config.write_text(config.read_text().replace("max_tasks = 1000", "max_tasks = 1"))
    capsys.readouterr()

    assert cli(["review", "-C", str(repo), "--path", "app", "--dry-run"]) == 2
    assert "more than the limit of 1" in capsys.readouterr().err
    assert cli(["review", "-C", str(repo), "--path", "app", "--dry-run", "--max-tasks", "10"]) == 0


def test_the_config_s_report_path_and_format_apply_when_no_flag_names_them(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    initialised(repo, cli, 'engine = "echo"\n', 'path = "reports/latest"\n')
    config = repo / ".parallelai" / "config.toml"
    config.write_text(config.read_text().replace('format = "md"', 'format = "json"'))

    assert cli(["review", "-C", str(repo), "--path", "app"]) == 0
    assert json.loads((repo / "reports" / "latest").read_text())["issues_count"] == 3

    own = repo / "mine.sarif"  # a flag's path, and the format its suffix says, win
    assert cli(["review", "-C", str(repo), "--path", "app", "--report", str(own)]) == 0
    assert json.loads(own.read_text())["version"] == "2.1.0"


def test_a_verb_with_no_engine_on_a_machine_with_none_exits_2_with_guidance(
    repo: Path, store_path: Path, cli: Cli, bare_machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["review", "-C", str(repo), "--path", "app"]) == 2

    err = capsys.readouterr().err
    assert "no engine named, and none of the real ones is installed and signed in here" in err
    for guidance in ("--engine NAME", "PARALLELAI_ENGINE", 'engine = "NAME"', "parallelai engines"):
        assert guidance in err
    assert run_count(store_path) == 0
