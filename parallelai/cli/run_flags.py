"""Command-line flags shared by `parallelai run` and the template verbs, named as docs/names.md says."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from parallelai.run_request import warn_renamed


class _OldSpelling(argparse.Action):
    """`--max-cost` and the like: still accepted for one release, with a warning naming the new flag."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        self._new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option: str | None = None,
    ) -> None:
        warn_renamed(f"{option} is now {self._new}; {option} is accepted until the next release")
        setattr(namespace, self.dest, values)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _add_budget_flags(parser: argparse.ArgumentParser) -> None:
    """`--max-cost-usd USD` (old spelling `--max-cost`)."""
    parser.add_argument(
        "--max-cost-usd",
        type=positive_float,
        metavar="USD",
        help="no task starts once the run has spent this much",
    )
    parser.add_argument(
        "--max-cost",
        dest="max_cost_usd",
        type=positive_float,
        action=_OldSpelling,
        new="--max-cost-usd",
        help=argparse.SUPPRESS,
    )


def _add_daemon_flags(parser: argparse.ArgumentParser) -> None:
    """`--daemon` and `--monitor web|terminal`, for every command that starts a run."""
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="run it in the daemon (started if none runs), so it outlives this command",
    )
    parser.add_argument(
        "--monitor",
        choices=["web", "terminal"],
        help="run it in the daemon and open the web dashboard (its address is printed too) or the "
        "terminal view on it",
    )


def _add_gate_flag(parser: argparse.ArgumentParser) -> None:
    """`--gate CMD` (repeatable): a command parallelai runs once every task succeeded."""
    parser.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="CMD",
        help="a command run in the workdir once every task succeeded, e.g. 'pytest -q'; "
        "if it exits non-zero the run fails (repeatable)",
    )


def _add_isolation_flags(parser: argparse.ArgumentParser) -> None:
    """`--isolate` / `--no-isolate`, `--task-gate CMD` and `--apply` (docs/isolation.md)."""
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each task in its own git worktree, not in your checkout; see the changes with "
        "`parallelai diff RUN`, take them with `parallelai apply RUN` (default: on for verbs whose "
        "agents edit files, in a git repository with a commit; off otherwise)",
    )
    parser.add_argument(
        "--task-gate",
        action="append",
        default=[],
        metavar="CMD",
        help="a command run in each task's worktree after its agent succeeded, e.g. "
        "'ruff check $PARALLELAI_TASK_FILES'; a failure goes back to the agent, twice at most, then "
        "fails the task (needs isolation; repeatable)",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="once the run has succeeded, merge its changes into your current branch "
        "(as `parallelai apply RUN`; isolation only)",
    )


def _add_failover_flags(parser: argparse.ArgumentParser) -> None:
    """`--fallback ENGINE` (repeatable) and `--deadline SECONDS` (docs/rate-limits.md)."""
    parser.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="ENGINE",
        help="an engine (`name[:model]`) a task moves to when the run's engine refuses it for good: "
        "a rate limit it cannot wait out, overload, an outage (repeatable: tried in order)",
    )
    parser.add_argument(
        "--deadline",
        type=positive_float,
        metavar="SECONDS",
        help="stop the run after this long, waits included: nothing new starts, running tasks are "
        "cancelled and the run fails (a resumed run gets it afresh)",
    )


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command that starts a run takes (`run` and each template verb), named and
    explained once: timeout, retries, fallbacks, deadline, budget, gates, isolation, cache, name,
    daemon and monitor."""
    parser.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="per-task timeout")
    parser.add_argument("--retries", type=int, help="retries of retryable failures per task (default: 2)")
    _add_failover_flags(parser)
    _add_budget_flags(parser)
    _add_gate_flag(parser)
    _add_isolation_flags(parser)
    parser.add_argument(
        "--no-cache", action="store_true", help="re-run tasks even if an identical one succeeded"
    )
    parser.add_argument("--name", help="a name for the run")
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        help="where attempts execute: here (local, the default) or on runner actors of a Ray cluster "
        '(ray: $RAY_ADDRESS or [ray] address; needs `pip install "parallelai[ray]"`, docs/ray.md)',
    )
    _add_daemon_flags(parser)
