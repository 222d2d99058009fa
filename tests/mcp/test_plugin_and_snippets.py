"""The Claude Code plugin, the marketplace entry and the documented client configs are valid and
name only tools the server has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from parallelai import __version__

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "claude-plugin"
MARKETPLACE = REPO / ".claude-plugin" / "marketplace.json"
SNIPPETS = REPO / "docs" / "snippets"
CLAUDE_CLI = REPO / ".tools" / "npm" / "node_modules" / ".bin" / "claude"
# As a plugin server the tools are `mcp__plugin_<plugin>_<server>__x`; configured directly, `mcp__<server>__x`.
TOOL_REFERENCE = re.compile(r"mcp__(?:plugin_parallelai_)?parallelai__([a-z_]+)")
# The everyday verbs, as `/parallelai:<name>`; the same names as the CLI's verbs where there is one.
COMMANDS = {
    "execute", "run", "review", "security-scan", "test-gen", "refactor", "docs", "status", "cancel", "retry"
}  # fmt: skip


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def json_files() -> list[Path]:
    return sorted([*PLUGIN.rglob("*.json"), *MARKETPLACE.parent.glob("*.json")])


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text()
    assert text.startswith("---\n"), f"{path.name} has no front matter"
    header, _, body = text[4:].partition("\n---\n")
    data = yaml.safe_load(header)
    assert isinstance(data, dict), f"{path.name}: front matter is not a mapping"
    return data, body


@pytest.mark.parametrize("path", json_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_every_plugin_and_marketplace_json_file_parses(path: Path) -> None:
    assert isinstance(load(path), dict)


def test_the_plugin_manifest_names_a_kebab_case_plugin_with_a_version() -> None:
    manifest = load(PLUGIN / ".claude-plugin" / "plugin.json")
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", manifest["name"])
    assert manifest["version"] == __version__  # the plugin ships with the package it starts
    assert manifest["description"]


def test_the_marketplace_lists_the_plugin_at_its_directory() -> None:
    marketplace = load(MARKETPLACE)
    assert marketplace["owner"]["name"]
    (entry,) = marketplace["plugins"]
    assert entry["source"].startswith("./")
    # Relative sources resolve from the marketplace root: the directory holding .claude-plugin/.
    source = (REPO / entry["source"]).resolve()
    assert source == PLUGIN
    assert load(source / ".claude-plugin" / "plugin.json")["name"] == entry["name"]
    assert entry["version"] == __version__


def test_the_plugin_mcp_config_starts_parallelai_mcp_with_the_plugin_options() -> None:
    servers = load(PLUGIN / ".mcp.json")["mcpServers"]
    options = load(PLUGIN / ".claude-plugin" / "plugin.json")["userConfig"]
    assert servers == {
        "parallelai": {
            "command": "parallelai",
            "args": ["mcp", "--engine", "${user_config.engine}", "--parallel", "${user_config.parallel}"],
        }
    }
    assert set(options) == {"engine", "parallel"}
    assert all(option.get("default") is not None for option in options.values())  # works unconfigured


def test_the_plugin_starts_parallelai_lsp_as_its_language_server() -> None:
    manifest = load(PLUGIN / ".claude-plugin" / "plugin.json")
    servers = load(PLUGIN / manifest["lspServers"])
    server = servers["parallelai"]
    assert (server["command"], server["args"]) == ("parallelai", ["lsp", "--all-runs"])
    assert {".py", ".ts", ".js"} <= set(server["extensionToLanguage"])


def test_the_slash_commands_exist_and_describe_themselves() -> None:
    commands = {path.stem: path for path in (PLUGIN / "commands").glob("*.md")}
    assert set(commands) == COMMANDS
    for path in commands.values():
        data, body = front_matter(path)
        assert data["description"], path.name
        assert "$ARGUMENTS" in body, path.name


def schema_names(schema: dict[str, Any]) -> set[str]:
    """Every property name in a JSON schema, its definitions included."""
    names = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names |= schema_names(definition)
    return names


@pytest.mark.anyio
async def test_every_tool_and_parameter_the_slash_commands_name_exists_on_the_server(client: Client) -> None:
    tools = (await client.list_tools()).tools
    served = {tool.name for tool in tools}
    vocabulary = served.union(
        *(schema_names(tool.input_schema) | schema_names(tool.output_schema or {}) for tool in tools)
    )
    for path in sorted((PLUGIN / "commands").glob("*.md")):
        data, body = front_matter(path)
        named = set(TOOL_REFERENCE.findall(str(data.get("allowed-tools", "")) + body))
        assert named, f"{path.name} names no parallelai tool"
        assert named <= served, f"{path.name} names unknown tools {named - served}"
        # A snake_case word in backticks is a tool, a parameter or a result field: it must exist.
        words = set(re.findall(r"`([a-z]+_[a-z_]+)`", body))
        assert words <= vocabulary, f"{path.name} names what the server lacks: {words - vocabulary}"


@pytest.mark.parametrize("path", sorted(SNIPPETS.glob("*.json")), ids=lambda path: path.name)
def test_each_client_snippet_starts_parallelai_mcp(path: Path) -> None:
    config = load(path)
    servers = config.get("mcpServers") or config["servers"]  # VS Code's file says `servers`
    server = servers["parallelai"]
    assert [server["command"], *server["args"]] == ["parallelai", "mcp"]
    if "servers" in config:
        assert server["type"] == "stdio"


def test_the_docs_show_each_snippet_exactly_as_the_tested_file() -> None:
    text = (REPO / "docs" / "mcp.md").read_text()
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    for path in sorted(SNIPPETS.glob("*.json")):
        assert f"snippets/{path.name}" in text
        assert load(path) in blocks, f"docs/mcp.md does not show {path.name}"


@pytest.mark.e2e
@pytest.mark.parametrize("target", [PLUGIN, REPO], ids=["plugin", "marketplace"])
def test_claude_code_validates_the_plugin_and_the_marketplace(target: Path) -> None:
    if not CLAUDE_CLI.exists() or shutil.which("node") is None:
        pytest.skip("Claude Code is not installed; run scripts/install-clis.sh")
    completed = subprocess.run(
        [str(CLAUDE_CLI), "plugin", "validate", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Validation passed" in completed.stdout
