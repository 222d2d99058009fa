/**
 * One run as the extension shows it, folded from a snapshot (`RunOut`, the task table) and the
 * daemon's events. Pure data and pure functions: the Runs tree, the status bar and the run panel
 * (on both sides of the webview boundary) all use it.
 */

import { formatMoney, formatSeconds } from '../panel/format';
import {
  RETRYABLE_STATES,
  TASK_STATES,
  type DaemonEvent,
  type RunOut,
  type RunState,
  type TaskOut,
  type TaskState,
  type Usage,
} from '../daemon/types';

export interface TaskView {
  id: string;
  state: TaskState;
  engine: string | null;
  attempts: number;
  /** Why the task failed, was skipped, waits to retry or was interrupted, as the daemon worded it. */
  error: string | null;
  duration_s: number | null;
  usage: Usage;
  /** When a `retrying` task is ready again (epoch seconds). */
  retry_at: number | null;
}

export interface RunView {
  id: string;
  name: string | null;
  strategy: string;
  /** The engine of every task that names none (`default_engine`, newer daemons). */
  engine: string | null;
  state: RunState;
  created_at: number;
  finished_at: number | null;
  total: number;
  /** Counts from the last snapshot or `run.finished`; used while the task table is unknown. */
  counts: Partial<Record<TaskState, number>>;
  /** Usage from the last snapshot or `run.finished`. */
  usage: Usage;
  note: string | null;
  /** The live process executing it, from the last snapshot (e.g. "the daemon (pid 812)"). */
  executed_by: string | null;
  /** What stopped the run early, from a `budget.reached` event. */
  budget: string | null;
  /** The tasks, in table order then in the order events named them. */
  order: string[];
  tasks: Record<string, TaskView>;
  /**
   * Whether `tasks` accounts for every task: the table was read, or the run was seen being
   * created (then a task no event has named yet is pending).
   */
  complete: boolean;
  /** Whether the task table was read: then `order` is the run's own order, not the order events came in. */
  tableRead: boolean;
  /**
   * Read the run again to show it right: a task event arrived while the table was unknown, or
   * the run started again (resumed or retried: who executes it now, which tasks run again).
   */
  stale: boolean;
  /** The newest event applied. */
  seq: number;
}

export const ZERO_USAGE: Usage = Object.freeze({ input_tokens: 0, output_tokens: 0, cost_usd: 0 });

export function runFromOut(run: RunOut): RunView {
  return {
    id: run.id,
    name: run.name,
    strategy: run.strategy,
    engine: defaultEngineOf(run),
    state: run.state,
    created_at: run.created_at,
    finished_at: run.finished_at,
    total: run.total,
    counts: { ...run.counts },
    usage: { ...run.usage },
    note: run.note ?? null,
    executed_by: run.executed_by ?? null,
    budget: null,
    order: [],
    tasks: {},
    complete: false,
    tableRead: false,
    stale: false,
    seq: 0,
  };
}

/** A daemon that says which engine the run's tasks default to does so in `default_engine`. */
function defaultEngineOf(run: RunOut): string | null {
  const engine = (run as RunOut & { default_engine?: unknown }).default_engine;
  return typeof engine === 'string' && engine !== '' ? engine : null;
}

/**
 * How far along a task is; a snapshot never moves a task back down this scale. An attempt that
 * failed and waits to retry, or was cut off, is past the `running` it came from.
 */
const TASK_RANK: Record<TaskState, number> = {
  pending: 0,
  ready: 1,
  running: 2,
  retrying: 3,
  interrupted: 3,
  succeeded: 4,
  failed: 4,
  cancelled: 4,
  skipped: 4,
};
const RUN_RANK: Record<RunState, number> = { pending: 0, interrupted: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 };

/**
 * Merges a fresh `RunOut` (and, when given, the task table) into what is known. The snapshot
 * wins, except that it never moves a run or a task back (running to pending, done to running):
 * a snapshot that was read before an event arrived is older than that event, and a real step
 * back (a retry, a resumed run) comes as an event of its own. With `changedOnly`, `tasks` are only
 * those changed since an earlier read of the table (`changed_after`): the others stay as known.
 */
export function mergeSnapshot(view: RunView | undefined, run: RunOut, tasks?: readonly TaskOut[], changedOnly = false): RunView {
  const next = view === undefined ? runFromOut(run) : { ...view, tasks: { ...view.tasks }, order: [...view.order] };
  if (view !== undefined) {
    const keepState = RUN_RANK[view.state] > RUN_RANK[run.state];
    next.name = run.name;
    next.engine = defaultEngineOf(run) ?? view.engine;
    next.state = keepState ? view.state : run.state;
    next.finished_at = keepState ? view.finished_at : run.finished_at;
    next.total = run.total;
    next.counts = { ...run.counts };
    next.usage = { ...run.usage };
    next.note = run.note ?? view.note;
    next.executed_by = keepState ? view.executed_by : (run.executed_by ?? null);
  }
  if (tasks !== undefined) {
    if (!changedOnly) {
      // The daemon's table order (the run's own task order) wins over the order events came in.
      const listed = new Set(tasks.map((task) => task.id));
      next.order = [...tasks.map((task) => task.id), ...next.order.filter((id) => !listed.has(id))];
    } else {
      const ordered = new Set(next.order); // a task new to the view goes last, as an event would put it
      next.order.push(...tasks.map((task) => task.id).filter((id) => !ordered.has(id)));
    }
    for (const task of tasks) {
      const known = next.tasks[task.id];
      const keepState = known !== undefined && TASK_RANK[known.state] > TASK_RANK[task.state];
      next.tasks[task.id] = {
        id: task.id,
        state: keepState ? known.state : task.state,
        retry_at: keepState ? known.retry_at : (task.retry_at ?? null),
        engine: task.engine,
        attempts: Math.max(task.attempts, known?.attempts ?? 0),
        error: task.error ?? task.reason ?? known?.error ?? null,
        duration_s: task.duration_s ?? known?.duration_s ?? null,
        usage: known !== undefined && known.usage.cost_usd >= (task.cost_usd ?? 0) ? known.usage : { ...ZERO_USAGE, cost_usd: task.cost_usd ?? 0 },
      };
    }
    // Changes alone account for every task only on top of a table read before.
    next.complete = !changedOnly || next.complete;
    next.tableRead = !changedOnly || next.tableRead;
    next.stale = false;
  }
  return next;
}

/** A run that only events have told us about (we saw it being created). */
function runFromCreated(event: Extract<DaemonEvent, { type: 'run.created' }>): RunView {
  return {
    id: event.run_id,
    name: event.name,
    strategy: event.strategy,
    engine: null,
    state: 'pending',
    created_at: event.at,
    finished_at: null,
    total: event.task_count,
    counts: { pending: event.task_count },
    usage: { ...ZERO_USAGE },
    note: null,
    executed_by: null,
    budget: null,
    order: [],
    tasks: {},
    complete: true,
    tableRead: false,
    stale: false,
    seq: 0,
  };
}

function newTask(id: string): TaskView {
  return { id, state: 'pending', engine: null, attempts: 0, error: null, duration_s: null, usage: { ...ZERO_USAGE }, retry_at: null };
}

/**
 * Applies a batch of one run's events. Returns `view` itself when none of them changed anything
 * shown, a new object otherwise; `undefined` stays `undefined` unless a `run.created` arrives.
 * Events are idempotent (states are absolute), so replaying a run's history over a snapshot is safe.
 */
export function applyEvents(view: RunView | undefined, events: readonly DaemonEvent[]): RunView | undefined {
  let next: RunView | undefined;
  for (const event of events) {
    if (IGNORED_EVENTS.has(event.type)) {
      continue;
    }
    if (next === undefined) {
      if (view !== undefined) {
        next = { ...view, tasks: { ...view.tasks }, order: [...view.order], counts: { ...view.counts } };
      } else if (event.type === 'run.created') {
        next = runFromCreated(event);
      } else {
        continue;
      }
    }
    const run = next;
    if (event.run_id !== run.id) {
      continue;
    }
    run.seq = Math.max(run.seq, event.seq);
    applyEvent(run, event);
  }
  return next ?? view;
}

/** Events that change nothing a view shows (a task's streamed text is read from its detail). */
const IGNORED_EVENTS: ReadonlySet<DaemonEvent['type']> = new Set(['task.output', 'task.activity', 'rate.limited']);

function applyEvent(run: RunView, event: DaemonEvent): void {
  switch (event.type) {
    case 'run.created':
      // The first event of a run: every later one follows it, so each task will be named.
      run.complete = true;
      run.stale = false;
      run.total = Math.max(run.total, event.task_count);
      break;
    case 'run.started':
      run.state = 'running';
      run.finished_at = null;
      run.note = null;
      if (event.resumed === true) {
        run.stale = true; // a retry or a resume: who executes it now is in a fresh snapshot
      }
      break;
    case 'run.finished':
      run.state = event.state;
      run.finished_at = event.at;
      run.counts = { ...event.counts };
      run.usage = { ...event.usage };
      run.note = event.note ?? null;
      run.executed_by = null;
      break;
    case 'task.state': {
      if (!run.complete) {
        run.stale = true;
      }
      const task = taskOf(run, event.task_id);
      task.state = event.state;
      task.retry_at = event.state === 'retrying' ? (event.retry_at ?? null) : null;
      if (event.state === 'running') {
        task.attempts = Math.max(task.attempts, event.attempt ?? task.attempts + 1);
      }
      if (event.state === 'pending' || event.state === 'ready' || event.state === 'running') {
        task.error = null; // queued or running again (a retry): the last error is history
      } else if (event.state !== 'succeeded') {
        task.error = event.reason ?? task.error;
      }
      if (run.state === 'pending' && event.state === 'running') {
        run.state = 'running';
      }
      break;
    }
    case 'task.usage':
      taskOf(run, event.task_id).usage = { ...event.usage };
      break;
    case 'task.retrying': {
      const task = taskOf(run, event.task_id);
      if (task.state !== 'retrying') {
        task.error = event.message; // a daemon without the `retrying` state says why only here
      }
      break;
    }
    case 'budget.reached':
      run.budget = `${event.limit} budget reached: ${formatSpent(event.limit, event.spent)} of ${formatSpent(event.limit, event.maximum)}`;
      break;
    case 'task.output':
    case 'task.activity':
    case 'rate.limited':
      break;
  }
}

function taskOf(run: RunView, id: string): TaskView {
  let task = run.tasks[id];
  if (task === undefined) {
    task = newTask(id);
    run.tasks[id] = task;
    run.order.push(id);
  } else {
    task = { ...task };
    run.tasks[id] = task;
  }
  return task;
}

function formatSpent(limit: 'cost' | 'tokens', value: number): string {
  return limit === 'cost' ? formatCost(value) : `${Math.round(value)} tokens`;
}

/** Tasks per state: counted from the table when it is complete, else the snapshot's counts. */
export function countsOf(run: RunView): Record<TaskState, number> {
  const counts = Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
  if (!run.complete) {
    for (const state of TASK_STATES) {
      counts[state] = run.counts[state] ?? 0;
    }
    return counts;
  }
  for (const id of run.order) {
    const task = run.tasks[id];
    if (task !== undefined && task.state in counts) {
      counts[task.state]++; // a state from a newer daemon is not counted rather than counted as NaN
    }
  }
  counts.pending += Math.max(0, run.total - run.order.length);
  return counts;
}

/** What the run has spent: the daemon's own total once it has one, else the sum of what tasks reported. */
export function usageOf(run: RunView): Usage {
  let input = 0;
  let output = 0;
  let cost = 0;
  for (const id of run.order) {
    const usage = run.tasks[id]?.usage;
    if (usage !== undefined) {
      input += usage.input_tokens;
      output += usage.output_tokens;
      cost += usage.cost_usd;
    }
  }
  return {
    input_tokens: Math.max(run.usage.input_tokens, input),
    output_tokens: Math.max(run.usage.output_tokens, output),
    cost_usd: Math.max(run.usage.cost_usd, cost),
  };
}

export interface Failure {
  taskId: string;
  message: string;
}

export function failuresOf(run: RunView): Failure[] {
  const failures: Failure[] = [];
  for (const id of run.order) {
    const task = run.tasks[id];
    if (task?.state === 'failed') {
      failures.push({ taskId: id, message: task.error ?? 'failed' });
    }
  }
  return failures;
}

export function tasksOf(run: RunView): TaskView[] {
  return run.order.flatMap((id) => {
    const task = run.tasks[id];
    return task === undefined ? [] : [task];
  });
}

export function isActive(run: { state: RunState }): boolean {
  return run.state === 'pending' || run.state === 'running';
}

/** Tasks a retry would run again: failed, cancelled and skipped ones, once the run has finished. */
export function retryableCount(run: RunView): number {
  if (run.state !== 'succeeded' && run.state !== 'failed' && run.state !== 'cancelled') {
    return 0;
  }
  const counts = countsOf(run);
  return RETRYABLE_STATES.reduce((sum, state) => sum + counts[state], 0);
}

export function finishedCount(counts: Record<TaskState, number>): number {
  return counts.succeeded + counts.failed + counts.cancelled + counts.skipped;
}

export function runLabel(run: { id: string; name: string | null }): string {
  return run.name ?? run.id;
}

/** Money as the dashboard writes it: to the cent, small sums to their first digits ("$0.002"). */
export function formatCost(usd: number): string {
  return formatMoney(usd);
}

export function formatTokens(tokens: number): string {
  if (tokens < 1000) {
    return String(tokens);
  }
  return tokens < 1_000_000 ? `${(tokens / 1000).toFixed(1)}k` : `${(tokens / 1_000_000).toFixed(2)}M`;
}

/** "14:03:12": when something happens, in the user's clock (a countdown would go stale in a tree). */
export function clockTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleTimeString();
}

/** A duration as the dashboard writes it: "4.2s", "42s", "1m 05s", "2h 03m", "3d 4h". */
export function formatDuration(seconds: number): string {
  return formatSeconds(seconds);
}
