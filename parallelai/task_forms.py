"""The forms a task may be given in, expanded into the plain tasks a run is made of.

- a `Task` (or task object) with `files`: each entry is a path or a glob inside the workspace
  (gitignore-style, as templates take them: `*.py` matches at any depth, `src/*.py` directly
  under src/); the files found become the task's `files`, and their contents follow its prompt;
- `{"task": "Refactor", "target": "src/", "pattern": "*.js"}`: one task per file under `target`
  matching `pattern`, each the `task` text followed by its file;
- a `Task(template="code_review", files=[...], params={...})`: the template's planned tasks join
  the run, their ids prefixed with the task's id (default: the template's name) so they never
  collide with the run's other tasks, and the template's gates join the run's.

Files are selected by `templates/files.py`, whose rules (confined to the workspace, `.gitignore`
respected, binary and oversized files left out) are the ones every template follows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from parallelai.errors import FileSelectionError, InputError
from parallelai.globs import check_glob
from parallelai.models import Gate, Task
from parallelai.orchestration.prompting import PLACEHOLDER, needs_rendering
from parallelai.run_request import RunSettings, TaskInput
from parallelai.templates.catalog import TemplateCatalog
from parallelai.templates.files import DEFAULT_MAX_BYTES, SelectedFile, select_files

# More files than this in one prompt is rarely one task: it is one task per file.
MAX_FILES_PER_TASK = 50
ATTACHED = "attached"  # the task input holding file contents, when its prompt is rendered
_GLOB_CHARS = re.compile(r"[*?\[]")
_SNIFF_BYTES = 8192


class TargetTask(BaseModel):
    """`{"task": "Refactor", "target": "src/", "pattern": "*.js"}`: one task per matching file."""

    model_config = ConfigDict(extra="forbid")

    task: Annotated[str, Field(min_length=1)]
    target: str = "."
    pattern: str = "*"
    engine: str | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None

    def expand(self, root: Path) -> list[TaskInput]:
        glob = _target_glob(self.target, self.pattern)
        where = f"task {self.task!r} (target {self.target!r}, pattern {self.pattern!r})"
        files = _select(root, [glob], where)
        return [
            TaskInput(prompt=self.task, files=[file.path], engine=self.engine, timeout=self.timeout)
            for file in files
        ]


def _target_glob(target: str, pattern: str) -> str:
    base = target.strip().replace("\\", "/").rstrip("/")
    if base in ("", "."):
        return pattern
    # A bare pattern means "anywhere under target", as `*.js` means anywhere under the root.
    return f"{base}/{pattern}" if "/" in pattern else f"{base}/**/{pattern}"


def expand_task(
    task: Task, settings: RunSettings, templates: TemplateCatalog, prefix: str
) -> tuple[list[Task], list[Gate]]:
    """The plain tasks `task` stands for, and the gates it brings (a template's)."""
    root = Path(settings.workdir or ".").resolve()
    if task.template is not None:
        return _template_tasks(task, settings, templates, prefix)
    if task.files:
        return [attach_files(task, root)], []
    return [task], []


def attach_files(task: Task, root: Path) -> Task:
    """`task` with its file globs expanded and each file's content after its prompt."""
    where = f"task {task.id or task.prompt[:40]!r}"
    files = _select(root, task.files, where)
    if len(files) > MAX_FILES_PER_TASK:
        raise InputError(
            f"{where}: files select {len(files)} files, more than {MAX_FILES_PER_TASK} for one prompt; "
            'for one task per file give {"task": ..., "target": ..., "pattern": ...}'
        )
    texts = [file.read_text() for file in files]
    inputs = dict(task.inputs)
    if needs_rendering(task):
        # The prompt is rendered: contents go in as inputs, so braces in them are never expanded.
        if ATTACHED in inputs:
            raise InputError(f"{where}: the input name {ATTACHED!r} is reserved for the files' contents")
        inputs[ATTACHED] = {str(number): text for number, text in enumerate(texts)}
        bodies = ["{{ " + f"{ATTACHED}.{number}" + " }}" for number in range(len(texts))]
    else:
        bodies = [text.removesuffix("\n") for text in texts]  # the fence closes the last line
    sections = [
        _file_section(file.path, body, text) for file, body, text in zip(files, bodies, texts, strict=True)
    ]
    prompt = "\n\n".join([task.prompt, *sections])
    return task.model_copy(
        update={"prompt": prompt, "files": [file.path for file in files], "inputs": inputs}
    )


def _file_section(path: str, body: str, text: str) -> str:
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"The file `{path}`:\n{fence}\n{body}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _select(root: Path, entries: Sequence[str], where: str) -> list[SelectedFile]:
    """Files named by paths and globs, each once, in the order given (a glob's in path order)."""
    chosen: dict[str, SelectedFile] = {}
    for entry in entries:
        try:
            check_glob(entry)
        except FileSelectionError as error:
            raise InputError(f"{where}: files: {entry!r} is outside the workspace {root}: {error}") from None
        if _GLOB_CHARS.search(entry):
            selection = select_files(root, [entry])
            if not selection.files:
                left_out = "; ".join(f"{path}: {why}" for path, why in list(selection.skipped.items())[:3])
                raise InputError(
                    f"{where}: files: {entry!r} matched no file under {root}"
                    + (f" (left out: {left_out})" if left_out else "")
                )
            found = selection.files
        else:
            found = [_exact_file(root, entry, where)]
        for file in found:
            chosen.setdefault(file.path, file)
    return list(chosen.values())


def _exact_file(root: Path, entry: str, where: str) -> SelectedFile:
    relative = entry.strip().replace("\\", "/").removeprefix("./")
    absolute = (root / relative).resolve()
    if not absolute.is_relative_to(root):
        raise InputError(f"{where}: files: {entry!r} is outside the workspace {root}")
    if not absolute.is_file():
        raise InputError(f"{where}: files: {entry!r} does not exist in {root}")
    size = absolute.stat().st_size
    if size > DEFAULT_MAX_BYTES:
        raise InputError(f"{where}: files: {entry!r} is {size} bytes, over the {DEFAULT_MAX_BYTES}-byte cap")
    with absolute.open("rb") as handle:
        if b"\0" in handle.read(_SNIFF_BYTES):
            raise InputError(f"{where}: files: {entry!r} is binary; a prompt cannot hold it")
    return SelectedFile(absolute.relative_to(root).as_posix(), absolute)


def _template_tasks(
    task: Task, settings: RunSettings, templates: TemplateCatalog, prefix: str
) -> tuple[list[Task], list[Gate]]:
    assert task.template is not None
    where = f"task {prefix!r} (template {task.template!r})"
    if "prompt" in task.model_fields_set and task.prompt:
        raise InputError(f"{where}: give a `prompt` or a `template`, not both")
    if task.depends_on:
        raise InputError(
            f"{where}: a template task cannot wait for other tasks; run it on its own, or write the "
            "work as a tasks file with depends_on"
        )
    params = dict(task.params)
    if task.files:
        if "files" in params:
            raise InputError(f"{where}: give the globs as `files` or as `params['files']`, not both")
        params["files"] = list(task.files)
    group_settings = settings.model_copy(update={"engine": task.engine or settings.engine})
    try:
        plan = templates.plan(task.template, params, group_settings)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    renamed = {planned.id: f"{prefix}.{planned.id}" for planned in plan.spec.tasks}

    def rename(match: re.Match[str]) -> str:
        # Only dependency placeholders name task ids; the template protected every other brace.
        name = match.group(1)
        other = name.removeprefix("outputs.")
        return (
            "{{ outputs." + renamed[other] + " }}" if name != other and other in renamed else match.group(0)
        )

    tasks = [
        planned.model_copy(
            update={
                "id": renamed[planned.id],
                "prompt": PLACEHOLDER.sub(rename, planned.prompt),
                "depends_on": [renamed[dep] for dep in planned.depends_on],
            }
        )
        for planned in plan.spec.tasks
    ]
    return tasks, list(plan.spec.gates)
