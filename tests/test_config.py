"""Config files and PARALLELAI_* variables give runs their defaults, in a documented order."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai import ParallelAI, ParallelOrchestrator
from parallelai.engines.registry import default_registry
from parallelai.errors import ConfigError, InputError
from parallelai.models import RunSpec
from parallelai.orchestration.spec_check import plan_spec
from parallelai.planning import plan_request
from parallelai.run_request import build_request

# What these tests put in config files must count: the environment names no engine over them.
pytestmark = pytest.mark.usefixtures("no_engine_named")


def project(root: Path, config: str) -> Path:
    """A project whose `.parallelai/config.toml` says `config`."""
    path = root / ".parallelai" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    return root


def planned(root: Path, **fields: object) -> RunSpec:
    return plan_request(build_request(prompts=["x"], workdir=str(root), **fields))


def test_the_project_config_fills_what_the_request_leaves_unset(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        '[run]\nengine = "echo"\nparallel = 3\nretries = 5\ntimeout = 42\nmax_cost_usd = 1.5\nuse_cache = false\n',
    )

    spec = planned(root)

    assert spec.default_engine == "echo"
    assert spec.limits.max_parallel == 3
    assert spec.limits.max_cost_usd == 1.5
    assert spec.use_cache is False
    assert (spec.tasks[0].options.retries, spec.tasks[0].options.timeout) == (5, 42)


def test_a_flag_beats_the_environment_which_beats_the_project_which_beats_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[run]\nparallel = 2\ntimeout = 10\nretries = 1\n")
    monkeypatch.setenv("PARALLELAI_CONFIG", str(user))
    root = project(tmp_path / "p", '[run]\nengine = "echo"\nparallel = 3\ntimeout = 20\n')
    monkeypatch.setenv("PARALLELAI_PARALLEL", "4")

    spec = planned(root)
    assert spec.limits.max_parallel == 4  # environment over project and user
    assert spec.tasks[0].options.timeout == 20  # project over user
    assert spec.tasks[0].options.retries == 1  # user over the built-in 2

    assert planned(root, parallel=5).limits.max_parallel == 5  # the request over everything


def test_the_environment_names_the_engine_over_the_project_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, '[run]\nengine = "claude-code"\n')
    monkeypatch.setenv("PARALLELAI_ENGINE", "echo")

    assert planned(root).default_engine == "echo"


def test_a_tasks_file_s_own_settings_win_over_the_config_and_the_rest_comes_from_it(tmp_path: Path) -> None:
    root = project(tmp_path, '[run]\nengine = "echo"\nparallel = 3\ntimeout = 99\nmax_tokens = 1000\n')
    (root / "tasks.yaml").write_text(
        "parallel: 6\ndefaults: {timeout: 7}\nengine: echo:loud\ntasks: [a, b]\n"
    )

    spec = plan_request(build_request(tasks_file="tasks.yaml", workdir=str(root)))

    assert spec.default_engine == "echo:loud"
    assert spec.limits.max_parallel == 6
    assert spec.limits.max_tokens == 1000
    assert {task.options.timeout for task in spec.tasks} == {7}


def test_an_unknown_key_is_refused_with_its_file_table_and_key(tmp_path: Path) -> None:
    root = project(tmp_path, "[run]\nparalel = 3\n")

    with pytest.raises(ConfigError) as raised:
        planned(root)

    message = str(raised.value)
    assert isinstance(raised.value, InputError)
    assert message.startswith(f"{root / '.parallelai' / 'config.toml'}: [run] paralel: unknown key")
    assert "engine, parallel" in message  # the keys it could have meant


def test_an_unknown_table_is_refused_naming_the_tables(tmp_path: Path) -> None:
    root = project(tmp_path, "[runs]\nparallel = 3\n")

    with pytest.raises(
        ConfigError, match=r"config\.toml: \[runs\]: unknown table; the tables are: run, report"
    ):
        planned(root)


def test_a_value_of_the_wrong_type_is_refused_with_its_location(tmp_path: Path) -> None:
    root = project(tmp_path, '[run]\nparallel = "8"\n')

    with pytest.raises(ConfigError, match=r"config\.toml: \[run\] parallel: Input should be a valid integer"):
        planned(root)


def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    root = project(tmp_path, "[run\n")

    with pytest.raises(ConfigError, match=r"config\.toml: not valid TOML: .*line 1"):
        planned(root)


def test_a_config_may_name_its_engine_as_the_announcement_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, '[run]\nengine = "claude_code"\n')
    monkeypatch.setenv("PARALLELAI_ENGINE", "chatgpt:gpt-4.1")

    assert plan_spec(planned(root), default_registry()).default_engine == "openai:gpt-4.1"
    monkeypatch.delenv("PARALLELAI_ENGINE")
    assert plan_spec(planned(root), default_registry()).default_engine == "claude-code"


def test_an_unknown_engine_in_the_config_is_refused_naming_the_file(tmp_path: Path) -> None:
    root = project(tmp_path, '[run]\nengine = "claud-code"\n')

    with pytest.raises(ConfigError) as raised:
        planned(root)

    assert str(raised.value).startswith(
        f"{root / '.parallelai' / 'config.toml'}: [run] engine: unknown engine"
    )
    assert "did you mean 'claude-code'?" in str(raised.value)


def test_a_bad_environment_value_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARALLELAI_PARALLEL", "lots")

    with pytest.raises(ConfigError, match=r"^\$PARALLELAI_PARALLEL: .*got 'lots'; fix or unset the variable"):
        planned(tmp_path, engine="echo")


def test_the_notify_table_is_left_to_the_daemon(tmp_path: Path) -> None:
    root = project(tmp_path, '[run]\nengine = "echo"\n\n[notify]\nwebhook = "https://example.com/hook"\n')

    assert planned(root).default_engine == "echo"


def test_the_python_apis_take_the_config_of_their_workdir(tmp_path: Path) -> None:
    root = project(tmp_path, '[run]\nengine = "echo"\nparallel = 3\nmax_tasks = 1\n')
    (root / "a.py").write_text("print(1)\n")

    spec = ParallelOrchestrator(workdir=root).spec(["x"])
    assert (spec.default_engine, spec.limits.max_parallel) == ("echo", 3)

    plan = ParallelAI(workdir=root).plan("code_review", files=["a.py"])
    assert (plan.spec.default_engine, plan.spec.limits.max_parallel) == ("echo", 3)
    (root / "b.py").write_text("print(2)\n")
    with pytest.raises(InputError, match="more than the limit of 1"):
        ParallelAI(workdir=root).plan("code_review", files=["*.py"])


def test_with_no_engine_named_anywhere_and_none_ready_python_callers_get_guidance(
    tmp_path: Path, bare_machine: Path
) -> None:
    with pytest.raises(InputError, match="no engine named"):
        ParallelOrchestrator(workdir=tmp_path).spec(["x"])
