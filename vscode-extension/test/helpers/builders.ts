/** Daemon JSON for tests, shaped like the daemon's own (schemas.py, events.py). */

import {
  RETRYABLE_STATES,
  type DaemonEvent,
  type RunOut,
  type RunState,
  type TaskOut,
  type TaskState,
  type Usage,
} from '../../src/common/daemon/types';

let seq = 0;
const nextSeq = (): number => ++seq;

export const usage = (cost = 0, input = 0, output = 0): Usage => ({ input_tokens: input, output_tokens: output, cost_usd: cost });

export function runOut(id: string, overrides: Partial<RunOut> = {}): RunOut {
  return {
    id,
    name: null,
    strategy: 'parallel',
    state: 'running',
    created_at: 1_800_000_000,
    finished_at: null,
    elapsed_s: 1,
    total: 3,
    counts: { pending: 3 },
    usage: usage(),
    reused: 0,
    note: null,
    active: true,
    ...overrides,
  };
}

export function taskOut(id: string, state: TaskState, overrides: Partial<TaskOut> = {}): TaskOut {
  return { id, state, engine: 'echo', attempts: state === 'pending' ? 0 : 1, depends_on: [], reason: null, error: null, duration_s: null, cost_usd: 0, ...overrides };
}

/**
 * What the daemon's retry does to a run: its failed, cancelled and skipped tasks (or those of them
 * `named`) go back to pending and the run runs again. Returns how many tasks that was.
 */
export function retryIn(entry: { run: RunOut; tasks: TaskOut[] }, named: readonly string[]): number {
  const retryable: readonly TaskState[] = RETRYABLE_STATES;
  const again = entry.tasks.filter((task) => retryable.includes(task.state) && (named.length === 0 || named.includes(task.id)));
  if (again.length > 0) {
    entry.tasks = entry.tasks.map((task) => (again.includes(task) ? { ...task, state: 'pending' } : task));
    entry.run = { ...entry.run, state: 'running', active: true, finished_at: null, executed_by: 'the daemon (pid 1)' };
  }
  return again.length;
}

export const ev = {
  created: (runId: string, taskCount: number, name: string | null = null): DaemonEvent => ({
    type: 'run.created', seq: nextSeq(), at: 1_800_000_000, run_id: runId, name, strategy: 'parallel', task_count: taskCount,
  }),
  started: (runId: string, requeued?: number): DaemonEvent => ({
    type: 'run.started', seq: nextSeq(), at: 1_800_000_001, run_id: runId, resumed: requeued !== undefined, requeued: requeued ?? 0,
  }),
  task: (runId: string, taskId: string, state: TaskState, extra: { reason?: string; attempt?: number; retryAt?: number } = {}): DaemonEvent => ({
    type: 'task.state', seq: nextSeq(), at: 1_800_000_002, run_id: runId, task_id: taskId, state, attempt: extra.attempt ?? (state === 'running' ? 1 : 0), reason: extra.reason ?? null, error_kind: null, reused: false,
    ...(extra.retryAt === undefined ? {} : { retry_at: extra.retryAt }),
  }),
  usage: (runId: string, taskId: string, value: Usage): DaemonEvent => ({ type: 'task.usage', seq: nextSeq(), at: 1_800_000_003, run_id: runId, task_id: taskId, usage: value }),
  output: (runId: string, taskId: string, text: string): DaemonEvent => ({ type: 'task.output', seq: nextSeq(), at: 1_800_000_003, run_id: runId, task_id: taskId, text }),
  retrying: (runId: string, taskId: string, message: string): DaemonEvent => ({
    type: 'task.retrying', seq: nextSeq(), at: 1_800_000_003, run_id: runId, task_id: taskId, attempt: 1, delay_s: 1, error_kind: 'transient', message,
  }),
  finished: (runId: string, state: RunState, counts: Partial<Record<TaskState, number>>, spent: Usage = usage()): DaemonEvent => ({
    type: 'run.finished', seq: nextSeq(), at: 1_800_000_010, run_id: runId, state, counts, usage: spent, reused: 0, note: null,
  }),
  budget: (runId: string): DaemonEvent => ({ type: 'budget.reached', seq: nextSeq(), at: 1_800_000_005, run_id: runId, limit: 'cost', spent: 2.5, maximum: 2 }),
};
