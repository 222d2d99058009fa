/**
 * The run panel's message protocol, both ways across the webview boundary, with the checks each
 * side runs on what it receives. The webview never talks to the daemon: the extension host
 * follows the run and posts these; the webview asks for actions by name and nothing else.
 */

import type { StreamStatus } from '../daemon/sse';
import type { DaemonEvent } from '../daemon/types';
import {
  isCounts,
  isNumber,
  isRecord,
  isRunState,
  isString,
  isTaskState,
  isUsage,
  parseDaemonEvent,
} from '../daemon/validate';
import type { RunView, TaskView } from '../runs/runView';

export type ConnectionState = StreamStatus | 'disconnected';

/** Extension host → webview. */
export type HostMessage =
  /** Everything known so far; sent when the webview (re)loads. */
  | { type: 'snapshot'; run: RunView; connection: ConnectionState }
  /** The run's events since the last message, in order. */
  | { type: 'events'; events: DaemonEvent[] }
  | { type: 'connection'; status: ConnectionState; detail?: string }
  /** Something went wrong that the panel should say (the run could not be read, a cancel failed). */
  | { type: 'error'; message: string };

/** Webview → extension host. */
export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'cancel' }
  /** Run the finished run's failed, cancelled and skipped tasks again. */
  | { type: 'retry' }
  | { type: 'showTask'; taskId: string }
  | { type: 'openDashboard' };

const CONNECTION_STATES: readonly ConnectionState[] = [
  'connecting',
  'live',
  'reconnecting',
  'unauthorized',
  'closed',
  'disconnected',
];

const MAX_TEXT = 10_000;
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A message from the webview, or undefined when it is not one this protocol defines. */
export function parseWebviewMessage(value: unknown): WebviewMessage | undefined {
  if (!isRecord(value) || !isString(value.type)) {
    return undefined;
  }
  switch (value.type) {
    case 'ready':
    case 'cancel':
    case 'retry':
    case 'openDashboard':
      return Object.keys(value).length === 1 ? { type: value.type } : undefined;
    case 'showTask':
      return Object.keys(value).length === 2 && isString(value.taskId) && TASK_ID.test(value.taskId)
        ? { type: 'showTask', taskId: value.taskId }
        : undefined;
    default:
      return undefined;
  }
}

/** A message from the extension host, or undefined when it is malformed. */
export function parseHostMessage(value: unknown): HostMessage | undefined {
  if (!isRecord(value) || !isString(value.type)) {
    return undefined;
  }
  switch (value.type) {
    case 'snapshot':
      return isRunView(value.run) && isConnection(value.connection)
        ? { type: 'snapshot', run: value.run, connection: value.connection }
        : undefined;
    case 'events': {
      if (!Array.isArray(value.events)) {
        return undefined;
      }
      const events = value.events.map(parseDaemonEvent);
      return events.every((event) => event !== undefined)
        ? { type: 'events', events }
        : undefined;
    }
    case 'connection':
      if (!isConnection(value.status) || !(value.detail === undefined || isString(value.detail))) {
        return undefined;
      }
      return value.detail === undefined
        ? { type: 'connection', status: value.status }
        : { type: 'connection', status: value.status, detail: value.detail.slice(0, MAX_TEXT) };
    case 'error':
      return isString(value.message) ? { type: 'error', message: value.message.slice(0, MAX_TEXT) } : undefined;
    default:
      return undefined;
  }
}

function isConnection(value: unknown): value is ConnectionState {
  return (CONNECTION_STATES as readonly unknown[]).includes(value);
}

const isNullable =
  <T>(check: (v: unknown) => v is T) =>
  (value: unknown): value is T | null =>
    value === null || check(value);

function isTaskView(value: unknown): value is TaskView {
  return (
    isRecord(value) &&
    isString(value.id) &&
    isTaskState(value.state) &&
    isNullable(isString)(value.engine) &&
    isNumber(value.attempts) &&
    isNullable(isString)(value.error) &&
    isNullable(isNumber)(value.duration_s) &&
    isUsage(value.usage) &&
    isNullable(isNumber)(value.retry_at)
  );
}

export function isRunView(value: unknown): value is RunView {
  if (
    !isRecord(value) ||
    !isString(value.id) ||
    !isNullable(isString)(value.name) ||
    !isString(value.strategy) ||
    !isNullable(isString)(value.engine) ||
    !isRunState(value.state) ||
    !isNumber(value.created_at) ||
    !isNullable(isNumber)(value.finished_at) ||
    !isNumber(value.total) ||
    !isCounts(value.counts) ||
    !isUsage(value.usage) ||
    !isNullable(isString)(value.note) ||
    !isNullable(isString)(value.executed_by) ||
    !isNullable(isString)(value.budget) ||
    !Array.isArray(value.order) ||
    !isRecord(value.tasks) ||
    typeof value.complete !== 'boolean' ||
    typeof value.tableRead !== 'boolean' ||
    typeof value.stale !== 'boolean' ||
    !isNumber(value.seq)
  ) {
    return false;
  }
  const tasks = value.tasks;
  return value.order.every((id) => {
    const task = isString(id) ? tasks[id] : undefined;
    return isTaskView(task) && task.id === id;
  });
}

/** What the webview keeps through a reload of the window (`setState` in the webview script). */
export interface PanelRestoreState {
  runId: string;
}

/** The run id of a restored panel's state, if the state is one of ours. */
export function restoredRunId(state: unknown): string | undefined {
  return isRecord(state) && isString(state.runId) && state.runId !== '' ? state.runId : undefined;
}
