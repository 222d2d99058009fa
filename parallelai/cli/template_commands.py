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

from parallelai.cli.isolation_commands import apply_at_end
from parallelai.cli.progress import ProgressView
from parallelai.cli.run_flags import (
    add_run_flags,
    positive_int,
)
from parallelai.cli.summary import gate_failure_line
from parallelai.config import load_defaults
from parallelai.errors import InputError, NoEngineError
from parallelai.events import RunFinished
from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_template_request
from parallelai.refactorings import KNOWN, resolve_refactoring
from parallelai.reports.changes import run_changes
from parallelai.reports.headline import summary_lines
from parallelai.reports.render import REPORT_FORMATS, format_for, render_report, write_report
from parallelai.reports.results import TemplateResults, collect
from parallelai.run_request import build_request
from parallelai.templates.catalog import LibraryCatalog
from parallelai.templates.files import DEFAULT_MAX_TASKS
from parallelai.templates.loader import PROJECT_DIR, list_templates, load_template, parse_template
from parallelai.templates.original import converted_template
from parallelai.templates.params import parse_param
from parallelai.templates.plan import TemplatePlan
from parallelai.templates.scaffold import init_project, new_template
from parallelai.templates.schema import template_json_schema_text
from parallelai.wording import plural

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
    test_gen.add_argument(
        "--coverage", type=percent, help="line coverage to aim for: 80 or 80%% (default 80)"
    )
    test_gen.add_argument("--framework", help="test framework (default: detected)")
    test_gen.set_defaults(template_params=lambda a: _given(a, coverage=a.coverage, framework=a.framework))

    refactor = _verb(commands, "refactor", "refactoring", "apply one refactoring pattern to each file")
    refactor.add_argument(
        "--pattern", required=True, help=f"what to change, or a known refactoring: {', '.join(KNOWN)}"
    )
    refactor.add_argument("--to", help="what it becomes (optional for a known refactoring)")
    refactor.add_argument("--test-after", metavar="CMD", help="a test command to run once afterwards")
    refactor.set_defaults(template_params=_refactoring_params)

    scan = _verb(commands, "security-scan", "security_audit", "audit files for vulnerabilities (OWASP, CWE)")
    scan.add_argument("--owasp", choices=["top10"], help="classification (default top10)")
    scan.add_argument("--min-severity", choices=["critical", "high", "medium", "low", "info"])
    scan.set_defaults(template_params=lambda a: _given(a, owasp=a.owasp, min_severity=a.min_severity))

    docs = _verb(commands, "docs", "documentation", "document each source file")
    docs.add_argument("--style", choices=["google", "numpy", "markdown"], help="default google")
    docs.add_argument(
        "--output", help="write Markdown pages here instead of editing sources (style markdown: default docs)"
    )
    docs.add_argument("--no-examples", action="store_true", help="do not add usage examples")
    docs.set_defaults(
        template_params=lambda a: _given(
            a, style=a.style, output_dir=a.output, include_examples=False if a.no_examples else None
        )
    )

    templates = commands.add_parser("templates", help="list, show, validate, convert or create templates")
    templates.add_argument("action", choices=["list", "show", "validate", "new", "schema", "convert"])
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
        "-e",
        "--engine",
        help="default engine, `name[:model]` (default: the config's, else the first assistant ready here; "
        "`echo` for a dry run with canned answers)",
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
        help=f"refuse plans with more tasks (default: the config's, else {DEFAULT_MAX_TASKS})",
    )
    add_run_flags(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the planned tasks; start nothing")
    parser.add_argument(
        "--report", metavar="PATH", help="write the report here (default: the config's `[report] path`)"
    )
    parser.add_argument(
        "--format",
        choices=REPORT_FORMATS,
        help="report format (default: from the report's suffix, else the config's, else md)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan or the report as JSON")


def _refactoring_params(args: argparse.Namespace) -> dict[str, Any]:
    pattern, to = resolve_refactoring(args.pattern, args.to)
    return _given(args, pattern=pattern, to=to, test_after=args.test_after)


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
    workdir, path = _workspace(args)
    params = dict(args.template_params(args))
    if path is not None:
        params["path"] = path
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
        gates=args.gate or None,
        isolation=args.isolate,
        backend=args.backend,
        task_gates=args.task_gate or None,
        fallbacks=args.fallback or None,
        deadline_s=args.deadline,
    )
    return plan_template_request(request, LibraryCatalog(workdir, paths=True))


def _workspace(args: argparse.Namespace) -> tuple[Path, str | None]:
    """The workspace root, and `--path` inside it: an absolute `--path` outside the root becomes the root."""
    root = Path(args.workdir).resolve()
    if getattr(args, "path", None) is None:
        return root, None
    given = Path(args.path)
    target = (given if given.is_absolute() else root / given).resolve()
    if not target.is_dir():
        where = "" if given.is_absolute() else f" under {root}"
        raise InputError(f"--path {args.path}: no such directory{where}")
    if target.is_relative_to(root):
        return root, target.relative_to(root).as_posix()
    return target, "."


def _dry_plan(args: argparse.Namespace) -> TemplatePlan:
    """The plan, also where no engine is named and none is ready: a dry run starts no agent, so it
    shows `echo` in the run engine's place and says so, rather than refusing to show anything."""
    try:
        return plan_from_args(args)
    except NoEngineError as error:
        first = str(error).splitlines()[0]
        print(f"note: {first}; the plan shows `echo` in its place (name one with --engine)", file=sys.stderr)
        return plan_from_args(argparse.Namespace(**{**vars(args), "engine": "echo"}))


def percent(text: str) -> int:
    """`80` or `80%`: a whole percentage from 1 to 100."""
    try:
        value = int(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage such as 80 or 80%") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be from 1 to 100, got {text}")
    return value


async def _execute(args: argparse.Namespace) -> int:
    if args.dry_run:
        _print_plan(_dry_plan(args), args.json)
        return EXIT_OK
    plan = plan_from_args(args)
    if plan.edits_in_place and args.isolate is None:
        print(
            f"note: {args.workdir} is in no git repository with a commit, so this run's agents edit "
            "its files in place (with one, each would work in a worktree of its own: docs/isolation.md)",
            file=sys.stderr,
        )
    results = await (_in_daemon(plan, args) if args.daemon or args.monitor else _embedded(plan, args))
    if results is None:
        return EXIT_OK  # the user left the terminal view; the run goes on in the daemon
    fmt = args.format
    configured = load_defaults(Path(args.workdir)).report
    # A --report path is where it was typed; the config's `[report] path` is the project's.
    target = Path(args.report) if args.report else None
    if target is None and configured.path:
        target = Path(args.workdir) / configured.path
    if target is not None:
        chosen = format_for(target, fmt, configured.format or "md")
        path = write_report(results, target, chosen)
        print(f"report: {path} ({chosen})", file=sys.stderr)
    if args.json or (fmt and target is None):
        print(render_report(results, "json" if args.json else fmt), end="")
    else:
        # A failed gate first: every task may have succeeded, and the run still did not.
        for gate in results.run.failed_gates:
            print(gate_failure_line(gate))
        for line in summary_lines(results):
            print(line)
        for outcome in results.outcomes:
            if outcome.error:
                print(f"  {outcome.task_id} ({outcome.label}): {outcome.error}", file=sys.stderr)
    if args.apply and not await apply_at_end(plan.spec, results.run.id, results.run.state):
        return EXIT_FAILED
    return EXIT_OK if results.run.state is RunState.SUCCEEDED else EXIT_FAILED


async def _embedded(plan: TemplatePlan, args: argparse.Namespace) -> TemplateResults:
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
        return await collect(service, plan, run_id)


async def _in_daemon(plan: TemplatePlan, args: argparse.Namespace) -> TemplateResults | None:
    from parallelai.cli.daemon_run import execute_in_daemon  # the HTTP client only when it is used

    outcome = await execute_in_daemon(plan.spec, monitor=args.monitor, quiet=args.json, records=True)
    if outcome is None:
        return None
    changes = None
    if plan.spec.isolation:  # read from the store the daemon wrote them to, as `parallelai diff` does
        store = Path(args.store) if getattr(args, "store", None) else None
        async with OrchestrationService.open(store) as service:
            order = [record.task.id for record in outcome.records]
            changes = await run_changes(service, outcome.summary.id, order)
    return TemplateResults(plan, outcome.summary, outcome.records, changes)


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
                    "scope": task.change_scope,
                    "prompt": task.prompt,
                }
                for task in tasks
            ],
            "gates": [gate.model_dump(mode="json") for gate in plan.spec.gates],
            "task_gates": [gate.model_dump(mode="json") for gate in plan.spec.task_gates],
            "isolation": plan.spec.isolation,
        }
        print(json.dumps(body, indent=2, ensure_ascii=False, default=str))
        return
    print(f"{plan.loaded.template.name}: {plural(plan.count, 'task')} planned (dry run: nothing started)")
    for task in tasks:
        planned = plan.tasks[task.id]
        after = f"  after {', '.join(task.depends_on)}" if task.depends_on else ""
        print(f"  {task.id:<22} {planned.group:<14} {planned.label}{after}")
    for path, why in plan.skipped.items():
        print(f"  skipped {path}: {why}")
    for gate in plan.spec.task_gates:
        print(f"  each task's gate: {gate.command}")
    for gate in plan.spec.gates:
        print(f"  then the gate: {gate.command}")
    if plan.spec.isolation:
        print("  each task in its own git worktree; its change merged onto parallelai/<run>")


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
        if loaded.original:
            print(
                f"  (original format; `parallelai templates convert {args.name}` prints it in the native one)"
            )
    elif args.action == "convert":
        loaded = load_template(args.name, workdir)
        print(converted_template(loaded.path, loaded.document, loaded.original), end="")
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
