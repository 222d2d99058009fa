"""`parallelai run` with no engine named: the config's, else a real assistant, else a clear stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.cli.main import main

EXIT_OK, EXIT_INPUT = 0, 2


def test_run_with_no_engine_on_a_machine_with_none_exits_2_with_guidance(
    bare_machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "Explain a.py"]) == EXIT_INPUT

    err = capsys.readouterr().err
    assert "no engine named" in err
    for guidance in ("--engine NAME", "PARALLELAI_ENGINE", "parallelai engines"):
        assert guidance in err
    assert main(["runs"]) == EXIT_OK
    assert "no runs yet" in capsys.readouterr().out
    # The dry run is there for whoever asks for it by name.
    assert main(["run", "Explain a.py", "--engine", "echo"]) == EXIT_OK


def test_run_takes_the_engine_from_the_config_of_the_directory_it_runs_in(
    tmp_path: Path, bare_machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".parallelai").mkdir()
    (tmp_path / ".parallelai" / "config.toml").write_text('[run]\nengine = "echo"\nparallel = 3\n')
    monkeypatch.chdir(tmp_path)

    # On this machine only the config's engine can run anything: without it, exit code 2.
    assert main(["run", "Explain a.py"]) == EXIT_OK
    assert "1 succeeded" in capsys.readouterr().out


def test_a_template_s_dry_run_shows_its_plan_on_a_machine_with_no_engine(
    bare_machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (bare_machine / "a.py").write_text("x = 1\n")
    monkeypatch.chdir(bare_machine)

    assert main(["review", "--dry-run", "--json"]) == EXIT_OK

    captured = capsys.readouterr()
    assert "no engine named" in captured.err
    assert "shows `echo` in its place" in captured.err
    assert "a.py" in captured.out  # the planned task over the file
    assert main(["review"]) == EXIT_INPUT  # a real run still needs an engine
