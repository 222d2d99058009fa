"""`ParallelAI`: the everyday verbs — review, refactor, document, test_gen, security_scan, execute — in Python.

ai = ParallelAI(engine="claude-code", parallel=20)
results = ai.review(files=["*.py", "*.js"], checklist=["security", "performance"])
print(results.issues_count, results.by_file)
ai.write_report(results, "review.sarif")

A run in which no task succeeded raises `RunFailedError` (its `results` say why each failed): there
is nothing to count. A run in which some failed returns results with `complete == False` and the
failures in `results.failed`; counts such as `issues_count` are of what the succeeded tasks found.
Every argument a verb takes reaches the agents' prompts or is refused (InputError): none is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from parallelai.models import EngineObject, Gate
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_template_request
from parallelai.project_tests import detect_test_command
from parallelai.refactorings import resolve_refactoring
from parallelai.reports.headline import nothing_succeeded_message
from parallelai.reports.render import ReportFormat, write_report
from parallelai.reports.results import RunFailedError, TemplateResults, run_plan
from parallelai.run_request import build_request, warn_renamed
from parallelai.templates.catalog import LibraryCatalog
from parallelai.templates.plan import TemplatePlan


class ParallelAI:
    """The verbs over one engine and workdir. What is not given here comes from the environment and
    the workdir's `.parallelai/config.toml` (docs/config.md); with no engine named anywhere, the
    first real assistant ready on this machine runs the work — `echo` only when named."""

    def __init__(
        self,
        engine: str | EngineObject | None = None,
        parallel: int | None = None,
        *,
        workdir: Path | str | None = None,
        store_path: Path | str | None = None,
        max_tasks: int | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        engines: Mapping[str, Mapping[str, Any]] | None = None,
        use_cache: bool | None = None,
        max_cost_usd: float | None = None,
        engine_settings: Mapping[str, Mapping[str, Any]] | None = None,
        isolation: bool | None = None,
        gates: Sequence[str | Gate] | None = None,
        task_gates: Sequence[str | Gate] | None = None,
        fallbacks: Sequence[str] | None = None,
        deadline_s: float | None = None,
    ) -> None:
        if engine_settings is not None:
            warn_renamed(
                "ParallelAI: `engine_settings` is now called `engines`; accepted until the next release"
            )
            engines = engines or engine_settings
        self.engine = engine
        self.parallel = parallel
        self._workdir = Path(workdir or Path.cwd()).resolve()
        self._store_path = Path(store_path) if store_path else None
        self._max_tasks = max_tasks
        self._timeout = timeout
        self._retries = retries
        self._engines = {name: dict(value) for name, value in (engines or {}).items()}
        self._use_cache = use_cache
        self._max_cost_usd = max_cost_usd
        self._isolation = isolation
        self._gates = list(gates or [])
        self._task_gates = list(task_gates or [])
        self._fallbacks = list(fallbacks or [])
        self._deadline_s = deadline_s

    # -- the verbs ------------------------------------------------------------------------------

    def review(
        self,
        files: Sequence[str] | None = None,
        checklist: Sequence[str] | None = None,
        parallel: int | None = None,
        path: str | None = None,
    ) -> TemplateResults:
        return self.execute("code_review", parallel=parallel, files=files, checklist=checklist, path=path)

    def security_scan(
        self, files: Sequence[str] | None = None, owasp: str = "top10", parallel: int | None = None
    ) -> TemplateResults:
        return self.execute("security_audit", parallel=parallel, files=files, owasp=owasp)

    def refactor(
        self,
        pattern: str,
        to: str | None = None,
        files: Sequence[str] | str | None = None,
        parallel: int | None = None,
        test_after: bool | str = False,
    ) -> TemplateResults:
        """`pattern` is what to replace (`to`: what it becomes), or a known refactoring's name —
        `callback-to-async`, `var-to-const`, `class-to-hooks`, `py2-to-py3`, … (parallelai/refactorings.py)
        — which needs no `to`. `test_after`: a command, or True for the project's own (`pytest -q`,
        `npm test`); parallelai runs it as a gate once every file is done, and a non-zero exit fails the run."""
        replaces, becomes = resolve_refactoring(pattern, to)
        command = detect_test_command(self._workdir) if test_after is True else (test_after or "")
        return self.execute(
            "refactoring", parallel=parallel, pattern=replaces, to=becomes, files=files, test_after=command
        )

    def document(
        self,
        style: str = "google",
        output: str | None = None,
        files: Sequence[str] | None = None,
        parallel: int | None = None,
        include_examples: bool = True,
    ) -> TemplateResults:
        """Docstrings (`style` google or numpy) written into the sources — or, with `output` given
        (or `style="markdown"`, default `docs`), one Markdown page per file under `output` plus an
        index, and the sources left alone."""
        return self.execute(
            "documentation",
            parallel=parallel,
            style=style,
            output_dir=output,
            files=files,
            include_examples=include_examples,
        )

    def test_gen(
        self,
        coverage: int = 80,
        framework: str = "auto",
        files: Sequence[str] | None = None,
        parallel: int | None = None,
    ) -> TemplateResults:
        return self.execute(
            "test_generation", parallel=parallel, coverage=coverage, framework=framework, files=files
        )

    # -- any template ---------------------------------------------------------------------------

    def plan(self, template: str, parallel: int | None = None, **params: Any) -> TemplatePlan:
        """Plan without running: `plan.count`, `plan.spec.tasks` (raises InputError on bad input)."""
        given = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in params.items()
            if value is not None
        }
        request = build_request(
            template=template,
            params=given,
            workdir=str(self._workdir),
            engine=self.engine,
            engines=self._engines,
            parallel=parallel or self.parallel,
            max_tasks=self._max_tasks,
            timeout=self._timeout,
            retries=self._retries,
            use_cache=self._use_cache,
            max_cost_usd=self._max_cost_usd,
            isolation=self._isolation,
            gates=self._gates or None,
            task_gates=self._task_gates or None,
            fallbacks=self._fallbacks or None,
            deadline_s=self._deadline_s,
        )
        return plan_template_request(request, LibraryCatalog(self._workdir, paths=True))

    def execute(self, template: str, parallel: int | None = None, **params: Any) -> TemplateResults:
        """Run a template to the end (blocking; not inside an event loop — use `aexecute` there).

        Raises RunFailedError when no task succeeded; otherwise check `results.complete`.
        """
        plan = self.plan(template, parallel, **params)
        return anyio.run(self._run, plan)

    async def aexecute(self, template: str, parallel: int | None = None, **params: Any) -> TemplateResults:
        # Planning reads files; in a thread it does not stall the caller's event loop.
        plan = await anyio.to_thread.run_sync(lambda: self.plan(template, parallel, **params))
        return await self._run(plan)

    async def _run(self, plan: TemplatePlan) -> TemplateResults:
        async with OrchestrationService.open(self._store_path) as service:
            results = await run_plan(service, plan)
        if not results.succeeded:
            # Results with nothing in them would read as "0 issues": a clean bill of health.
            raise RunFailedError(results, nothing_succeeded_message(results))
        return results

    @staticmethod
    def write_report(results: TemplateResults, path: Path | str, fmt: ReportFormat | None = None) -> Path:
        return write_report(results, Path(path), fmt)
