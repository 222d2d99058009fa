"""A strategy chosen for `ParallelOrchestrator`: its name, its options, and what it makes of a list.

What each strategy does with the list given to `execute`:

- `parallel` (default): each entry is one independent task.
- `dag`: entries are tasks; one with `depends_on` waits for the tasks it names.
- `batch`: the prompts are numbered and packed `batch_size` (default 10) to one agent call —
  or as many as fit in `max_chars` — which answers each under its number.
- `pipeline`: the prompts are stages, applied in order, each to the previous stage's answer
  (appended to its prompt unless it places `{{ output }}` itself); the last answer is the
  pipeline's. With `stages=[...]` the list is the items instead, and every item goes through
  the stages (`{{ item }}` is the item, `{{ output }}` the previous stage's answer).
- `mapreduce`: the prompts are the map tasks; `reduce=` (a prompt; default: combine them)
  combines their answers, in a tree of at most `fan_in` (default 10) answers per reduce task.

Other strategy names (`adaptive`, alias `intelligent`) pass through to planning as they are. The list forms are
written as the tasks file would write them (docs/tasks-file.md, "Items strategies") and compiled
by the same code (orchestration/strategies.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parallelai.errors import InputError, UnknownStrategyError
from parallelai.models import STRATEGY_NAMES, canonical_strategy
from parallelai.orchestration.prompting import PLACEHOLDER

DEFAULT_BATCH_SIZE = 10
BATCH_PROMPT = "Do each of these tasks, and answer each under its number:\n\n{{ items }}"
ITEM = "\n\n{{ item }}"
PREVIOUS_OUTPUT = "\n\nThe previous step's answer:\n{{ output }}"
ANSWERS = "\n\nThe answers:\n{{ output }}"
DEFAULT_REDUCE = "Combine these answers into one, keeping every distinct point:"
# Which options belong to which strategy: any other pairing is refused when it is made.
OPTIONS_OF = {
    "batch": ("batch_size", "max_chars"),
    "pipeline": ("stages",),
    "mapreduce": ("reduce", "fan_in"),
}
LIST_STRATEGIES = tuple(OPTIONS_OF)


class StrategyChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    batch_size: Annotated[int, Field(gt=0)] | None = None
    max_chars: Annotated[int, Field(gt=0)] | None = None
    stages: Annotated[list[str], Field(min_length=1)] | None = None
    reduce: Annotated[str, Field(min_length=1)] | None = None
    fan_in: Annotated[int, Field(ge=2)] | None = None

    def work(self, entries: Sequence[Any]) -> dict[str, Any] | None:
        """The list as a tasks file's content for this strategy; None when its entries are tasks."""
        if self.name not in LIST_STRATEGIES:
            return None
        prompts = _prompts(self.name, entries)
        if self.name == "batch":
            size = {"max_chars": self.max_chars} if self.max_chars else {"batch_size": self.batch_size}
            numbered = [f"{number}. {prompt}" for number, prompt in enumerate(prompts, 1)]
            return {"strategy": "batch", "items": numbered, "prompt": BATCH_PROMPT, **size}
        if self.name == "pipeline":
            if self.stages is not None:
                stages = [_with_output(stage, first=k == 0) for k, stage in enumerate(self.stages)]
                stages[0] = _with_item(self.stages[0])
                return {"strategy": "pipeline", "items": prompts, "stages": stages}
            stages = [_with_output(prompt, first=k == 0) for k, prompt in enumerate(prompts)]
            return {"strategy": "pipeline", "items": [""], "stages": stages}
        given = self.reduce or DEFAULT_REDUCE
        placed = any(name in ("output", "outputs") for name in PLACEHOLDER.findall(given))
        reduce = {"prompt": given if placed else given + ANSWERS}
        return {
            "strategy": "mapreduce",
            "items": prompts,
            "map": {"prompt": "{{ item }}"},
            "reduce": reduce,
            "fan_in": self.fan_in or 10,
        }


def choose_strategy(name: str, options: Mapping[str, Any] | None = None) -> StrategyChoice:
    """`name` with `options`, checked: an unknown name, or an option another strategy takes, is an
    InputError saying which strategy takes it."""
    given = {key: value for key, value in (options or {}).items() if value is not None}
    canonical = _canonical(name)
    allowed = OPTIONS_OF.get(canonical, ())
    for option in given:
        if option not in allowed:
            owner = next((strategy for strategy, names in OPTIONS_OF.items() if option in names), None)
            takes = f"; it takes {', '.join(allowed)}" if allowed else "; it takes no options"
            fix = (
                f"`{option}` belongs to strategy {owner!r}"
                if owner
                else f"`{option}` is no strategy's option"
            )
            raise InputError(f"strategy {canonical!r} has no option `{option}`: {fix}{takes}")
    if canonical == "batch":
        if "batch_size" in given and "max_chars" in given:
            raise InputError("strategy 'batch': give batch_size or max_chars, not both")
        if "max_chars" not in given:
            given.setdefault("batch_size", DEFAULT_BATCH_SIZE)
    try:
        return StrategyChoice.model_validate({"name": canonical, **given})
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InputError(f"strategy {canonical!r}: {where}: {problem['msg']}") from None


def _canonical(name: str) -> str:
    canonical = canonical_strategy(name)  # an alias (`intelligent`) is its strategy's own name
    if canonical not in STRATEGY_NAMES:
        raise UnknownStrategyError(str(name), STRATEGY_NAMES)
    return canonical


def _prompts(strategy: str, entries: Sequence[Any]) -> list[str]:
    for index, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise InputError(
                f"tasks[{index}]: the {strategy} strategy takes a list of prompt strings, not task "
                "objects; use strategy 'parallel' or 'dag' for task objects, or write a tasks file"
            )
    if not entries:
        raise InputError(f"the {strategy} strategy needs at least one prompt")
    return list(entries)


def _with_item(prompt: str) -> dict[str, str]:
    """The first stage's prompt, given its item where it says, else at its end."""
    placed = "item" in PLACEHOLDER.findall(prompt)
    return {"prompt": prompt if placed else prompt + ITEM}


def _with_output(prompt: str, *, first: bool) -> dict[str, str]:
    """A stage's prompt that receives the previous answer: where it says, else at its end."""
    placed = any(name in ("output", "outputs") for name in PLACEHOLDER.findall(prompt))
    return {"prompt": prompt if first or placed else prompt + PREVIOUS_OUTPUT}
