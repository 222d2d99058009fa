"""docs/lsp.md stays true: every name it documents exists, and its examples match the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from lsprotocol.types import DiagnosticSeverity

from parallelai.cli.lsp_command import serve_lsp
from parallelai.cli.main import _parser
from parallelai.server.lsp import protocol
from parallelai.server.lsp.diagnostics import SEVERITIES
from parallelai.server.lsp.protocol import StartRunParams
from parallelai.wire import CreateRun
from tests.lsp._session import lsp_command

DOC = (Path(__file__).resolve().parents[2] / "docs" / "lsp.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_every_method_and_command_is_documented() -> None:
    names = [value for key, value in vars(protocol).items() if key.isupper() and isinstance(value, str)]
    missing = [name for name in names if f"`{name}`" not in DOC]
    assert not missing


def test_the_severity_table_says_what_the_mapping_does() -> None:
    by_level: dict[DiagnosticSeverity, list[str]] = {}
    for severity, level in SEVERITIES.items():
        by_level.setdefault(level, []).append(f"`{severity}`")
    line = "; ".join(f"{', '.join(names)} → {level.name}" for level, names in by_level.items())
    assert line in DOC


def test_the_start_run_example_is_a_valid_request() -> None:
    [example] = blocks("json")
    params = StartRunParams.model_validate(json.loads(example)["params"])
    CreateRun.model_validate(params.run)


def test_the_neovim_snippet_runs_the_command_the_tests_run() -> None:
    [lua] = blocks("lua")
    [cmd] = re.findall(r"cmd = \{ (.*?) \}", lua)
    argv = json.loads(f"[{cmd}]")
    assert argv[0] == "parallelai"
    assert _parser().parse_args(argv[1:]).command is serve_lsp
    assert lsp_command()[3:4] == argv[1:]


def test_other_commands_do_not_pay_for_importing_pygls() -> None:
    probe = "import sys, parallelai.cli.main; print(sorted({'pygls', 'lsprotocol'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
