"""An emulated GitHub Actions runner for this repository's composite action (action.yml).

`ActionsRunner.run(step)` runs a workflow's `uses: …/parallelai@…` step the way a runner runs a
composite action: the inputs from the step's `with:` over action.yml's defaults, `${{ … }}`
expressions in `with:`, `env:` and each inner step's `env:` and `if:`, each shell step in bash with
its own GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and the action's outputs mapped through
action.yml's `outputs:`.

What a hosted runner would download is what this machine has already: the steps that use another
action do not run (setup-python, setup-node, upload-artifact), but for the cache's, which keep the
runner's `cache` (give a re-run of the job the same dict); `python` is the test's
interpreter, where this checkout is installed (tests/packaging installs the built wheel into a fresh
venv); an engine CLI the action installs from npm must be the one scripts/install-clis.sh installed,
at the same version, and is put on PATH.

Expressions are evaluated only as far as action.yml and the documented workflows use them (context
lookups, `== '…'`, `!= '…'`, `&&`, `always()`); anything else raises, so a new kind of expression in
action.yml fails the test instead of being skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parallelai.ci.github_action import ENGINE_NPM_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
NPM_ROOT = ROOT / ".tools" / "npm" / "node_modules"
# Credentials and endpoints of the machine running the tests stay out of the emulated job.
_HOST_ONLY = re.compile(
    r"^(PARALLELAI_|ANTHROPIC_|OPENAI_|GEMINI_|GOOGLE_|COPILOT_|GH_|GITHUB_|CLAUDE_|CODEX_)"
)
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_COMPARISON = re.compile(r"^(?P<left>[\w.-]+)\s*(?P<op>==|!=)\s*'(?P<right>[^']*)'$")


def evaluate(expression: str, contexts: Mapping[str, Any]) -> str | bool:
    """One expression (without `${{ }}`), as far as action.yml and the documented workflows go."""
    expression = expression.strip()
    if "&&" in expression:
        return all(truthy(evaluate(term, contexts)) for term in expression.split("&&"))
    if expression == "always()":
        return True
    compared = _COMPARISON.match(expression)
    if compared:
        equal = lookup(compared["left"], contexts) == compared["right"]
        return equal if compared["op"] == "==" else not equal
    if not re.fullmatch(r"[\w.-]+", expression):
        raise ValueError(f"the emulated runner cannot evaluate ${{{{ {expression} }}}}")
    return lookup(expression, contexts)


def lookup(path: str, contexts: Mapping[str, Any]) -> str:
    name, *keys = path.split(".")
    value: Any = contexts[name]  # an unknown context is a mistake, not an empty string
    for key in keys:
        value = value.get(key, "") if isinstance(value, Mapping) else ""  # as GitHub: null, shown as ''
    return str(value)


def truthy(value: str | bool) -> bool:
    return bool(value)


def substitute(text: str, contexts: Mapping[str, Any]) -> str:
    return _EXPRESSION.sub(lambda match: str(evaluate(match[1], contexts)), text)


def condition(text: str | None, contexts: Mapping[str, Any]) -> bool:
    """A step's `if:` (with or without `${{ }}`); without one, a step runs when nothing failed yet
    — which here is always, since a failed step ends the action."""
    if text is None:
        return True
    bare = _EXPRESSION.fullmatch(text.strip())
    return truthy(evaluate(bare[1] if bare else text, contexts))


def _read_outputs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@dataclass
class ActionResult:
    """What the runner shows after the action's step: its outputs, summary, log and exit code."""

    outputs: dict[str, str]
    exit_code: int
    summary: str
    log: str
    ran: list[str] = field(default_factory=list)  # the inner steps that ran, by name


@dataclass
class ActionsRunner:
    """A job on a runner: its workspace, temp dir, event and environment, and the job's secrets."""

    workspace: Path
    temp: Path
    event_name: str
    event: dict[str, Any]
    secrets: dict[str, str]
    job_env: dict[str, str] = field(default_factory=dict)
    job: str = "job"
    run_attempt: int = 1
    # The Actions cache of the repository: key -> a saved copy of the cached path.
    cache: dict[str, Path] = field(default_factory=dict)

    def base_env(self) -> dict[str, str]:
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(self.event))
        inherited = {name: value for name, value in os.environ.items() if not _HOST_ONLY.match(name)}
        return {
            **inherited,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": str(self.temp / "home"),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_JOB": self.job,
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": "Linux",
            **self.job_env,
        }

    def workflow_contexts(self, steps: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "secrets": self.secrets,
            "github": {"event_name": self.event_name, "event": self.event, "job": self.job},
            "steps": steps or {},
        }

    def run(self, workflow_step: Mapping[str, Any]) -> ActionResult:
        """Run the workflow step that uses this action."""
        contexts = self.workflow_contexts()
        given = {
            name: substitute(str(value), contexts) for name, value in workflow_step.get("with", {}).items()
        }
        unknown = set(given) - set(ACTION["inputs"])
        if unknown:
            raise ValueError(f"the action has no input {sorted(unknown)}")  # a runner warns; we fail
        inputs = {
            name: given.get(name, str(spec.get("default", ""))) for name, spec in ACTION["inputs"].items()
        }
        env = self.base_env()
        env.update(
            {name: substitute(str(value), contexts) for name, value in workflow_step.get("env", {}).items()}
        )
        (self.temp / "home").mkdir(exist_ok=True)

        steps: dict[str, dict[str, dict[str, str]]] = {}
        action_contexts: dict[str, Any] = {
            "inputs": inputs,
            "steps": steps,
            "runner": {"temp": str(self.temp), "os": "Linux"},
            "github": {
                "action_path": str(ROOT),
                "workspace": str(self.workspace),
                "workflow": "workflow",
                "job": self.job,
                "run_id": "1",
                "run_attempt": str(self.run_attempt),
            },
        }
        summary, log, ran, code = [], [], [], 0
        for index, step in enumerate(ACTION["runs"]["steps"]):
            if not condition(step.get("if"), action_contexts):
                continue
            if "uses" in step:
                if step["uses"].startswith("actions/cache/"):
                    self._cache_step(step, action_contexts)
                    ran.append(step["name"])
                continue
            step_env = {
                **env,
                **{
                    name: substitute(str(value), action_contexts)
                    for name, value in step.get("env", {}).items()
                },
                "GITHUB_OUTPUT": str(self.temp / f"output-{index}"),
                "GITHUB_STEP_SUMMARY": str(self.temp / f"summary-{index}.md"),
            }
            script = substitute(step["run"], action_contexts)
            if "pip install" in script:
                continue  # this checkout is installed in the test's interpreter already
            if "npm install" in script:
                env["PATH"] = f"{_installed_cli_bin(step_env['PACKAGE'])}{os.pathsep}{env['PATH']}"
                ran.append(step["name"])
                continue
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=self.workspace,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            ran.append(step["name"])
            log.append(done.stdout + done.stderr)
            if "id" in step:
                steps[step["id"]] = {"outputs": _read_outputs(Path(step_env["GITHUB_OUTPUT"]))}
            written = Path(step_env["GITHUB_STEP_SUMMARY"])
            if written.exists():
                summary.append(written.read_text())
            if done.returncode != 0:
                code = done.returncode
                break
        outputs = {
            name: substitute(spec["value"], action_contexts) for name, spec in ACTION["outputs"].items()
        }
        return ActionResult(outputs, code, "".join(summary), "".join(log), ran)

    def _cache_step(self, step: Mapping[str, Any], contexts: Mapping[str, Any]) -> None:
        """actions/cache/restore and /save: an exact key, else the newest entry whose key starts with
        one of `restore-keys`, tried in order (as the Actions cache matches them)."""
        given = {name: substitute(str(value), contexts) for name, value in step["with"].items()}
        path, key = Path(given["path"]), given["key"]
        if step["uses"].startswith("actions/cache/save@"):
            saved = self.temp.parent / "actions-cache" / f"{len(self.cache)}"
            shutil.copytree(path, saved)
            self.cache[key] = saved
            return
        prefixes = [line.strip() for line in given.get("restore-keys", "").splitlines() if line.strip()]
        newest_first = list(reversed(self.cache))
        found = [key] if key in self.cache else []
        found += [name for prefix in prefixes for name in newest_first if name.startswith(prefix)]
        if found:
            shutil.copytree(self.cache[found[0]], path, dirs_exist_ok=True)


def _installed_cli_bin(package: str) -> Path:
    """Where scripts/install-clis.sh put `package` (`@scope/name@version`), at exactly that version."""
    assert package in ENGINE_NPM_PACKAGES.values(), package
    name, _, version = package.rpartition("@")
    manifest = NPM_ROOT / name / "package.json"
    assert manifest.exists(), f"{name} is not installed: run scripts/install-clis.sh"
    installed = json.loads(manifest.read_text())["version"]
    assert installed == version, f"{name} {installed} is installed, the action pins {version}"
    return NPM_ROOT / ".bin"
