"""Template verbs of the command line: execute, review, test-gen, refactor, security-scan, docs, templates, init.

Each verb loads a template, plans it (globs, rows, dependencies — every bad input is an
InputError, exit code 2, before anything starts), then runs it with output schemas enforced,
prints a summary and writes the report. `--dry-run` prints the planned tasks and starts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from parallelai.cli.progress import ProgressView
from parallelai.cli.run_flags import add_budget_flags, positive_float, positive_int
from parallelai.errors import InputError
from parallelai.events import RunFinished
from parallelai.models import RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_template_request
from parallelai.reports.render import REPORT_FORMATS, format_for, render_report, write_report
from parallelai.reports.results import collect
from parallelai.run_request import build_request
from parallelai.templates.catalog import LibraryCatalog
from parallelai.templates.files import DEFAULT_MAX_TASKS
from parallelai.templates.loader import PROJECT_DIR, list_templates, load_template, parse_template
from parallelai.templates.params import parse_param
from parallelai.templates.plan import TemplatePlan
from parallelai.templates.scaffold import init_project, new_template
from parallelai.templates.schema import template_json_schema_text

EXIT_OK, EXIT_FAILED = 0, 1
# verb -> (template, how its own options become template parameters)
ParamsFrom = Callable[[argparse.Namespace], dict[str, Any]]


def add_template_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    execute = commands.add_parser(
        "execute", help="run a template (built-in, from .parallelai/templates, or a path)"
    )
    execute.add_argument("--template", "-t", required=True, metavar="NAME", help="template name or path")
    execute.add_argument(
        "--input", "-i", metavar="FILE", help="the input matrix (sets the `input` parameter)"
    )
    _common(execute)
    execute.set_defaults(command=_execute, template_params=_no_params)

    review = _verb(commands, "review", "code_review", "review files against a checklist")
    review.add_argument("--checklist", help="comma-separated: security,performance,style,correctness")
    review.set_defaults(template_params=lambda a: _given(a, checklist=a.checklist))

    test_gen = _verb(commands, "test-gen", "test_generation", "write tests for each source file")
    test_gen.add_argument("--coverage", type=int, help="line coverage to aim for, percent (default 80)")
    test_gen.add_argument("--framework", help="test framework (default: detected)")
    test_gen.set_defaults(template_params=lambda a: _given(a, coverage=a.coverage, framework=a.framework))

    refactor = _verb(commands, "refactor", "refactoring", "apply one refactoring pattern to each file")
    refactor.add_argument("--pattern", required=True, help="what to change")
    refactor.add_argument("--to", required=True, help="what it becomes")
    refactor.add_argument("--test-after", metavar="CMD", help="a test command to run once afterwards")
    refactor.set_defaults(
        template_params=lambda a: _given(a, pattern=a.pattern, to=a.to, test_after=a.test_after)
    )

    scan = _verb(commands, "security-scan", "security_audit", "audit files for vulnerabilities (OWASP, CWE)")
    scan.add_argument("--owasp", choices=["top10"], help="classification (default top10)")
    scan.add_argument("--min-severity", choices=["critical", "high", "medium", "low", "info"])
    scan.set_defaults(template_params=lambda a: _given(a, owasp=a.owasp, min_severity=a.min_severity))

    docs = _verb(commands, "docs", "documentation", "document each source file")
    docs.add_argument("--style", choices=["google", "numpy", "markdown"], help="default google")
    docs.add_argument("--output", help="directory for Markdown pages (default docs)")
    docs.add_argument("--no-examples", action="store_true", help="do not add usage examples")
    docs.set_defaults(
        template_params=lambda a: _given(
            a, style=a.style, output_dir=a.output, include_examples=False if a.no_examples else None
        )
    )

    templates = commands.add_parser("templates", help="list, show, validate or create templates")
    templates.add_argument("action", choices=["list", "show", "validate", "new", "schema"])
    templates.add_argument("name", nargs="?", metavar="NAME|FILE")
    templates.add_argument("-C", "--workdir", default=".", help="project root (default: .)")
    templates.add_argument("--json", action="store_true")
    templates.set_defaults(command=_templates)

    init = commands.add_parser("init", help="write .parallelai/config.toml and an example tasks.yaml")
    init.add_argument("-C", "--workdir", default=".", help="project root (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(command=_init)


def _verb(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, template: str, help_text: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=f"{help_text} (template {template})")
    parser.add_argument("--path", help="directory to work on, relative to the root (default: .)")
    parser.add_argument(
        "--files", action="append", metavar="GLOB", help="file globs under --path (repeatable)"
    )
    _common(parser)
    parser.set_defaults(command=_execute, template=template)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param", "-P", action="append", default=[], metavar="NAME=VALUE", help="a template parameter"
    )
    parser.add_argument(
        "-e", "--engine", default="echo", help="default engine, `name[:model]` (default: echo)"
    )
    parser.add_argument("-p", "--parallel", type=positive_int, help="tasks at once (default: 8)")
    parser.add_argument(
        "-E",
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the default engine, e.g. -E model=opus",
    )
    parser.add_argument(
        "-C", "--workdir", default=".", help="workspace root globs are relative to (default: .)"
    )
    parser.add_argument(
        "--max-tasks",
        type=positive_int,
        default=DEFAULT_MAX_TASKS,
        help=f"refuse plans with more tasks (default {DEFAULT_MAX_TASKS})",
    )
    parser.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="per-task timeout")
    parser.add_argument("--retries", type=int, help="retries of retryable failures per task")
    add_budget_flags(parser)
    parser.add_argument(
        "--no-cache", action="store_true", help="re-run tasks even if an identical one succeeded"
    )
    parser.add_argument("--name", help="a name for the run")
    parser.add_argument("--dry-run", action="store_true", help="print the planned tasks; start nothing")
    parser.add_argument("--report", metavar="PATH", help="write the report here")
    parser.add_argument(
        "--format", choices=REPORT_FORMATS, help="report format (default: from --report's suffix)"
    )
    parser.add_argument("--json", action="store_true", help="print the plan or the report as JSON")


def _no_params(args: argparse.Namespace) -> dict[str, Any]:
    # A path typed on the command line is relative to where it was typed, not to --workdir.
    return {"input": str(Path(args.input).absolute())} if args.input else {}


def _given(args: argparse.Namespace, **values: Any) -> dict[str, Any]:
    """Verb options become template parameters; options not given leave the template's defaults."""
    if args.path is not None:
        values["path"] = args.path
    if args.files:
        values["files"] = args.files
    return {key: value for key, value in values.items() if value is not None}


def plan_from_args(args: argparse.Namespace) -> TemplatePlan:
    """The verb's run request, planned: the template named (or a template file's path) with its params."""
    workdir = Path(args.workdir).resolve()
    params = dict(args.template_params(args))
    for text in args.param:
        key, value = parse_param(text)
        params[key] = value
    request = build_request(
        template=args.template,
        params=params,
        workdir=str(workdir),
        engine=args.engine,
        engine_options=dict(parse_param(text, "--engine-option") for text in args.engine_option),
        parallel=args.parallel,
        max_tasks=args.max_tasks,
        timeout=args.timeout,
        retries=args.retries,
        name=args.name,
        use_cache=False if args.no_cache else None,
        max_cost_usd=args.max_cost_usd,
    )
    return plan_template_request(request, LibraryCatalog(workdir, paths=True))


async def _execute(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    if args.dry_run:
        _print_plan(plan, args.json)
        return EXIT_OK
    store = Path(args.store) if getattr(args, "store", None) else None
    async with OrchestrationService.open(store) as service:
        after = service.bus.last_seq
        run_id = await service.submit(plan.spec)
        with ProgressView(run_id, plan.count, live=False if args.json else None) as view:
            async with aclosing(service.events(after, run_id)) as events:
                async for event in events:
                    view.update(event)
                    if isinstance(event, RunFinished):
                        break
        results = await collect(service, plan, run_id)
    fmt = args.format
    if args.report:
        path = write_report(results, Path(args.report), fmt)
        print(f"report: {path} ({fmt or format_for(path)})", file=sys.stderr)
    if args.json or (fmt and not args.report):
        print(render_report(results, "json" if args.json else fmt), end="")
    else:
        run = results.run
        print(
            f"run {run.id} {run.state}: {run.counts[TaskState.SUCCEEDED]}/{run.total} succeeded"
            + (
                f" · {results.issues_count} findings"
                if results.plan.loaded.template.report == "findings"
                else ""
            )
            + f" · {run.usage.total_tokens} tokens · ${run.usage.cost_usd:.4f}"
        )
        for outcome in results.outcomes:
            if outcome.error:
                print(f"  {outcome.task_id} ({outcome.label}): {outcome.error}", file=sys.stderr)
    return EXIT_OK if results.run.state is RunState.SUCCEEDED else EXIT_FAILED


def _print_plan(plan: TemplatePlan, as_json: bool) -> None:
    tasks = plan.spec.tasks
    if as_json:
        body = {
            "template": plan.loaded.template.name,
            "parameters": plan.params,
            "count": plan.count,
            "skipped_files": plan.skipped,
            "tasks": [
                {
                    "id": task.id,
                    "group": plan.tasks[task.id].group,
                    "item": plan.tasks[task.id].label,
                    "engine": task.engine or plan.spec.default_engine,
                    "depends_on": task.depends_on,
                    "prompt": task.prompt,
                }
                for task in tasks
            ],
        }
        print(json.dumps(body, indent=2, ensure_ascii=False, default=str))
        return
    print(f"{plan.loaded.template.name}: {plan.count} tasks planned (dry run: nothing started)")
    for task in tasks:
        planned = plan.tasks[task.id]
        after = f"  after {', '.join(task.depends_on)}" if task.depends_on else ""
        print(f"  {task.id:<22} {planned.group:<14} {planned.label}{after}")
    for path, why in plan.skipped.items():
        print(f"  skipped {path}: {why}")


async def _templates(args: argparse.Namespace) -> int:
    return _templates_now(args)


def _templates_now(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if args.action == "schema":
        print(template_json_schema_text(), end="")
        return EXIT_OK
    if args.action == "list":
        infos = list_templates(workdir)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "name": i.name,
                            "source": i.source,
                            "path": str(i.path),
                            "description": i.description,
                        }
                        for i in infos
                    ],
                    indent=2,
                )
            )
        for info in [] if args.json else infos:
            print(f"{info.name:<18} {info.source:<8} {info.description}")
        return EXIT_OK
    if not args.name:
        raise InputError(f"usage: parallelai templates {args.action} NAME")
    if args.action == "show":
        loaded = load_template(args.name, workdir)
        print(f"# {loaded.path} ({loaded.source})")
        print(loaded.path.read_text(encoding="utf-8"), end="")
    elif args.action == "validate":
        loaded = parse_template(Path(args.name))
        groups = ", ".join(loaded.template.groups)
        print(f"{args.name}: ok — template {loaded.template.name!r}, groups: {groups}")
    else:
        path = new_template(workdir, args.name)
        print(f"wrote {path}; edit it, then `parallelai templates validate {path}`")
    return EXIT_OK


async def _init(args: argparse.Namespace) -> int:
    return _init_now(args)


def _init_now(args: argparse.Namespace) -> int:
    for path in init_project(Path(args.workdir).resolve(), force=args.force):
        print(f"wrote {path}")
    print(f"templates of this project go in {PROJECT_DIR}/; `parallelai templates new NAME` starts one")
    return EXIT_OK
