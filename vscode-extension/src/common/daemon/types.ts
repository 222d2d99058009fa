/**
 * The daemon's JSON shapes, as `parallelai/wire.py` and `parallelai/events.py`
 * define them. The language server answers with the same shapes, so both `DaemonApi`
 * implementations return these.
 */

/**
 * Only `running` holds one of a run's slots: `retrying` waits out a retry backoff (until
 * `retry_at`), `interrupted` had its attempt cut off by its process stopping (resuming runs it again).
 */
export const TASK_STATES = ['pending', 'ready', 'running', 'retrying', 'interrupted', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** The task states a retry runs again (with the tasks that depend on them). */
export const RETRYABLE_STATES = ['failed', 'cancelled', 'skipped'] as const satisfies readonly TaskState[];

export const RUN_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type RunState = (typeof RUN_STATES)[number];

export type StrategyName = 'parallel' | 'batch' | 'pipeline' | 'mapreduce' | 'dag';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** The body of `POST /v1/runs`: one source of work (`prompts`, `work`, `template` …) and the run's
 * settings, named as in docs/names.md. */
export interface CreateRun {
  name?: string;
  engine?: string;
  prompts?: string[];
  work?: Record<string, unknown>;
  template?: string;
  params?: Record<string, unknown>;
  parallel?: number;
  engines?: Record<string, Record<string, unknown>>;
  max_cost_usd?: number;
  fail_fast?: boolean;
  use_cache?: boolean;
  workdir?: string;
}

export interface RunOut {
  id: string;
  name: string | null;
  strategy: StrategyName;
  state: RunState;
  created_at: number;
  finished_at: number | null;
  elapsed_s: number;
  total: number;
  counts: Partial<Record<TaskState, number>>;
  usage: Usage;
  reused?: number;
  note?: string | null;
  /** The live process executing it now, e.g. "the daemon (pid 812)" (newer daemons). */
  executed_by?: string | null;
  /** Being executed right now, by the daemon or another process on its store. */
  active: boolean;
}

export interface RunCreated {
  id: string;
  run: RunOut;
}

/** `POST /v1/runs/{id}/retry`, or `parallelai/retryRun`. */
export interface RunRetried {
  /** Tasks queued again: 0 means there was nothing to retry, and the run is unchanged. */
  retried: number;
  run: RunOut;
}

export interface TaskOut {
  id: string;
  state: TaskState;
  engine: string | null;
  attempts: number;
  depends_on: string[];
  reason?: string | null;
  /** When a `retrying` task is ready again (epoch seconds). */
  retry_at?: number | null;
  error?: string | null;
  duration_s?: number | null;
  cost_usd?: number;
}

/** A run with its task table: `GET /v1/runs/{id}` plus `/tasks`, or `parallelai/getRun`. */
export interface RunWithTasks {
  run: RunOut;
  /** Every task in plan order; only those changed since the read asked about when `changedOnly`. */
  tasks: TaskOut[];
  /**
   * The run's change counter at this read (the `ParallelAI-Cursor` header): pass it to the next
   * `getRun` to read only the tasks that changed since. Absent over the language server and from
   * daemons that do not count changes.
   */
  cursor?: number;
  /** `tasks` holds only the tasks changed after the cursor that was passed, not the whole table. */
  changedOnly?: boolean;
}

export interface TaskError {
  kind: string;
  message: string;
  retry_after?: number | null;
}

export interface TaskResult {
  text: string;
  structured?: unknown;
  usage: Usage;
  duration_s: number;
  error?: TaskError | null;
  reused?: boolean;
  session_id?: string | null;
}

export interface Attempt {
  number: number;
  started_at: number;
  finished_at?: number | null;
  state: TaskState;
  error?: TaskError | null;
}

export interface TaskSpec {
  id: string;
  prompt: string;
  engine?: string | null;
  inputs?: Record<string, unknown>;
  files?: string[];
  depends_on?: string[];
}

/** `GET /v1/runs/{id}/tasks/{task}`: the task's record plus its log. */
export interface TaskDetail {
  run_id: string;
  task: TaskSpec;
  state: TaskState;
  reason?: string | null;
  retry_at?: number | null;
  result?: TaskResult | null;
  attempts: Attempt[];
  log?: DaemonEvent[];
}

export interface TemplateParam {
  name: string;
  type?: string;
  description?: string;
  required?: boolean;
  default?: unknown;
}

export interface TemplateOut {
  name: string;
  description?: string;
  /** The parameters' names. */
  params?: string[];
  /** Each parameter in full (newer daemons). */
  parameters?: TemplateParam[];
}

export interface DashboardLink {
  url: string;
  expires_in_s: number;
}

export interface Health {
  status: 'ok';
  pid: number;
  version: string;
  last_seq: number;
}

// -- changes of an isolated run (docs/isolation.md) ---------------------------------------------

/** What became of a task's captured change: merged onto the run's branch, or not (why). */
export type ChangeOutcome = 'merged' | 'conflict' | 'outside_scope';

export interface FileStat {
  /** From the repository's top, with forward slashes. */
  path: string;
  insertions: number;
  deletions: number;
  /** A binary file counts no lines. */
  binary: boolean;
}

export interface TaskChangeOut {
  task_id: string;
  /** A `ChangeOutcome`; one this version does not know (a newer daemon) is shown as it is. */
  outcome: string;
  /** Its commit on the branch; null unless merged. */
  commit: string | null;
  insertions: number;
  deletions: number;
  files: FileStat[];
}

/** `GET /v1/runs/{id}/changes`: an isolated run's branch, base and each captured change, in task order. */
export interface RunChanges {
  run_id: string;
  /** `parallelai/<run>`, which `parallelai apply RUN` merges. */
  branch: string;
  base: string;
  tasks: TaskChangeOut[];
}

// -- events ---------------------------------------------------------------------------------

interface EventBase {
  seq: number;
  at: number;
  run_id: string;
}

export interface RunCreatedEvent extends EventBase {
  type: 'run.created';
  name: string | null;
  strategy: StrategyName;
  task_count: number;
}

export interface RunStartedEvent extends EventBase {
  type: 'run.started';
  resumed?: boolean;
  requeued?: number;
}

export interface RunFinishedEvent extends EventBase {
  type: 'run.finished';
  state: RunState;
  counts: Partial<Record<TaskState, number>>;
  usage: Usage;
  reused?: number;
  note?: string | null;
}

export interface TaskStateEvent extends EventBase {
  type: 'task.state';
  task_id: string;
  state: TaskState;
  attempt?: number;
  reason?: string | null;
  error_kind?: string | null;
  reused?: boolean;
  /** With `retrying`: when the task is ready again (epoch seconds). */
  retry_at?: number | null;
}

export interface TaskOutputEvent extends EventBase {
  type: 'task.output';
  task_id: string;
  text: string;
}

export interface TaskActivityEvent extends EventBase {
  type: 'task.activity';
  task_id: string;
  kind: string;
  detail: string;
}

export interface TaskUsageEvent extends EventBase {
  type: 'task.usage';
  task_id: string;
  usage: Usage;
}

export interface TaskRetryingEvent extends EventBase {
  type: 'task.retrying';
  task_id: string;
  attempt: number;
  delay_s: number;
  error_kind: string;
  message: string;
}

export interface RateLimitedEvent extends EventBase {
  type: 'rate.limited';
  task_id: string;
  engine: string;
  retry_after_s: number | null;
}

export interface BudgetReachedEvent extends EventBase {
  type: 'budget.reached';
  limit: 'cost' | 'tokens';
  spent: number;
  maximum: number;
}

/** The daemon's one event union, discriminated by `type`. */
export type DaemonEvent =
  | RunCreatedEvent
  | RunStartedEvent
  | RunFinishedEvent
  | TaskStateEvent
  | TaskOutputEvent
  | TaskActivityEvent
  | TaskUsageEvent
  | TaskRetryingEvent
  | RateLimitedEvent
  | BudgetReachedEvent;

