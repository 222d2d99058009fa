"""MCP prompts for the common parallel jobs; each tells the model how to drive the tools."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

_FILES = Field(description="Files or globs to cover, separated by spaces, commas or new lines.")
_ENGINE = Field(description="Engine for the sub-agents, e.g. claude-code (see list_engines).")


def _job(what: str, files: str, engine: str, per_file: str, then: str) -> str:
    return (
        f"{what}\n\n"
        f"Files: {files}\n\n"
        "1. Expand the globs into a concrete list of files (use your file tools).\n"
        "2. Call the parallelai `start_run` tool with one task per file, "
        f'engine="{engine}", wait=true, and each task as an object: '
        f'{{"prompt": "{per_file}", "files": ["<the file>"]}}.\n'
        "3. Read every answer with `get_results`, following `next_offset` until it is null; "
        "check tasks whose state is not succeeded.\n"
        f"4. {then}"
    )


def register_prompts(server: MCPServer) -> None:
    @server.prompt(title="Parallel code review")
    def parallel_review(
        files: Annotated[str, _FILES],
        focus: Annotated[str, Field(description="What to look for.")] = "bugs, risky changes, unclear code",
        engine: Annotated[str, _ENGINE] = "claude-code",
    ) -> str:
        """Review many files at once: one sub-agent per file, findings merged by severity."""
        return _job(
            "Review these files in parallel with sub-agents.",
            files,
            engine,
            f"Review this file. Focus on: {focus}. List findings as `line: severity: issue: fix`.",
            "Merge the findings into one report grouped by severity (high first), citing file:line.",
        )

    @server.prompt(title="Parallel test generation")
    def parallel_tests(
        files: Annotated[str, _FILES],
        framework: Annotated[str, Field(description="Test framework to write for.")] = "pytest",
        engine: Annotated[str, _ENGINE] = "claude-code",
    ) -> str:
        """Write tests for many modules at once: one sub-agent per module."""
        return _job(
            "Generate tests for these modules in parallel with sub-agents.",
            files,
            engine,
            f"Write {framework} tests for the public behaviour of this module; cover edge cases "
            "and errors. Reply with the complete test file only.",
            "Save each answer as the module's test file, run the tests, and report what fails.",
        )

    @server.prompt(title="Parallel security audit")
    def parallel_security_audit(
        files: Annotated[str, _FILES],
        engine: Annotated[str, _ENGINE] = "claude-code",
    ) -> str:
        """Audit many files for security problems at once: one sub-agent per file."""
        return _job(
            "Audit these files for security vulnerabilities in parallel with sub-agents.",
            files,
            engine,
            "Audit this file for security vulnerabilities (injection, authn/authz, secrets, unsafe "
            "deserialisation, path traversal, SSRF). For each: `line: severity: CWE: issue: fix`.",
            "Merge into one report ordered by severity; drop duplicates and say which are uncertain.",
        )
