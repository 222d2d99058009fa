/**
 * The run panel's state and its reducer. The extension host keeps one copy (to answer a webview
 * that reloads) and the webview another (to render); both fold the same messages the same way.
 */

import {
  applyEvents,
  countsOf,
  failuresOf,
  finishedCount,
  isActive,
  retryableCount,
  tasksOf,
  usageOf,
  type Failure,
  type RunView,
  type TaskView,
} from '../runs/runView';
import type { TaskState, Usage } from '../daemon/types';
import type { ConnectionState, HostMessage } from './messages';

export interface PanelState {
  run: RunView | undefined;
  connection: ConnectionState;
  error: string | undefined;
}

export const initialPanelState: PanelState = { run: undefined, connection: 'connecting', error: undefined };

export function reducePanel(state: PanelState, message: HostMessage): PanelState {
  switch (message.type) {
    case 'snapshot':
      return { run: message.run, connection: message.connection, error: undefined };
    case 'events': {
      const run = applyEvents(state.run, message.events);
      return run === state.run ? state : { ...state, run };
    }
    case 'connection':
      return message.status === state.connection ? state : { ...state, connection: message.status };
    case 'error':
      return { ...state, error: message.message };
  }
}

/** What the panel shows, computed from the state; the webview renders exactly this. */
export interface PanelView {
  title: string;
  runId: string;
  state: string;
  active: boolean;
  /** Tasks "Retry failed tasks" would run again (0 while the run goes, or when none failed). */
  retryable: number;
  /** The process executing the run now, when a snapshot said so. */
  executedBy: string | null;
  total: number;
  finished: number;
  counts: Record<TaskState, number>;
  usage: Usage;
  tasks: TaskView[];
  failures: Failure[];
  note: string | null;
  startedAt: number;
  finishedAt: number | null;
}

export function panelView(run: RunView): PanelView {
  const counts = countsOf(run);
  return {
    title: run.name ?? run.id,
    runId: run.id,
    state: run.state,
    active: isActive(run),
    retryable: retryableCount(run),
    executedBy: isActive(run) ? run.executed_by : null,
    total: Math.max(run.total, run.order.length),
    finished: finishedCount(counts),
    counts,
    usage: usageOf(run),
    // A task that names no engine runs on the run's: the table says which.
    tasks: run.engine === null ? tasksOf(run) : tasksOf(run).map((task) => (task.engine === null ? { ...task, engine: run.engine } : task)),
    failures: failuresOf(run),
    note: run.budget ?? run.note,
    startedAt: run.created_at,
    finishedAt: run.finished_at,
  };
}
