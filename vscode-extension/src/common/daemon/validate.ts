/**
 * Checks for JSON that crosses a trust boundary (the daemon's stream, the webview's messages):
 * whatever the rest of the code reads from a value is checked here first.
 */

import {
  RUN_STATES,
  TASK_STATES,
  type DaemonEvent,
  type FileStat,
  type RunChanges,
  type RunState,
  type TaskChangeOut,
  type TaskState,
  type Usage,
} from './types';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isString(value: unknown): value is string {
  return typeof value === 'string';
}

export function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isOptional(value: unknown, check: (v: unknown) => boolean): boolean {
  return value === undefined || value === null || check(value);
}

export function isTaskState(value: unknown): value is TaskState {
  return (TASK_STATES as readonly unknown[]).includes(value);
}

export function isRunState(value: unknown): value is RunState {
  return (RUN_STATES as readonly unknown[]).includes(value);
}

export function isUsage(value: unknown): value is Usage {
  return (
    isRecord(value) && isNumber(value.input_tokens) && isNumber(value.output_tokens) && isNumber(value.cost_usd)
  );
}

/**
 * Tasks per state. A state this version does not know (from a newer daemon) is allowed, and
 * simply not shown: refusing it would drop the whole `run.finished`.
 */
export function isCounts(value: unknown): value is Partial<Record<TaskState, number>> {
  return isRecord(value) && Object.values(value).every(isNumber);
}

/** The fields each event type must carry, beyond `type`, `seq`, `at` and `run_id`. */
const EVENT_FIELDS: Record<DaemonEvent['type'], (event: Record<string, unknown>) => boolean> = {
  'run.created': (e) => isOptional(e.name, isString) && isString(e.strategy) && isNumber(e.task_count),
  'run.started': () => true,
  'run.finished': (e) => isRunState(e.state) && isCounts(e.counts) && isUsage(e.usage),
  'task.state': (e) => isString(e.task_id) && isTaskState(e.state) && isOptional(e.reason, isString) && isOptional(e.retry_at, isNumber),
  'task.output': (e) => isString(e.task_id) && isString(e.text),
  'task.activity': (e) => isString(e.task_id) && isString(e.kind) && isString(e.detail),
  'task.usage': (e) => isString(e.task_id) && isUsage(e.usage),
  'task.retrying': (e) => isString(e.task_id) && isNumber(e.attempt) && isString(e.message),
  'rate.limited': (e) => isString(e.task_id) && isString(e.engine),
  'budget.reached': (e) => isString(e.limit) && isNumber(e.spent) && isNumber(e.maximum),
};

/**
 * The event, or undefined when it is malformed or of a type this version does not know (a
 * newer daemon may add types; they are skipped, not fatal).
 */
export function parseDaemonEvent(value: unknown): DaemonEvent | undefined {
  if (!isRecord(value) || !isString(value.type) || !isNumber(value.seq) || !isString(value.run_id)) {
    return undefined;
  }
  const check = Object.prototype.hasOwnProperty.call(EVENT_FIELDS, value.type)
    ? EVENT_FIELDS[value.type as DaemonEvent['type']]
    : undefined;
  if (!check?.(value)) {
    return undefined;
  }
  return { at: 0, ...value } as unknown as DaemonEvent;
}

function isFileStat(value: unknown): value is FileStat {
  return (
    isRecord(value) &&
    isString(value.path) &&
    isNumber(value.insertions) &&
    isNumber(value.deletions) &&
    typeof value.binary === 'boolean'
  );
}

function isTaskChange(value: unknown): value is TaskChangeOut {
  return (
    isRecord(value) &&
    isString(value.task_id) &&
    isString(value.outcome) &&
    (value.commit === null || isString(value.commit)) &&
    isNumber(value.insertions) &&
    isNumber(value.deletions) &&
    Array.isArray(value.files) &&
    value.files.every(isFileStat)
  );
}

/** The answer to `GET /v1/runs/{id}/changes`, or undefined when it is not one. */
export function parseRunChanges(value: unknown): RunChanges | undefined {
  if (
    !isRecord(value) ||
    !isString(value.run_id) ||
    !isString(value.branch) ||
    !isString(value.base) ||
    !Array.isArray(value.tasks) ||
    !value.tasks.every(isTaskChange)
  ) {
    return undefined;
  }
  return { run_id: value.run_id, branch: value.branch, base: value.base, tasks: value.tasks };
}
