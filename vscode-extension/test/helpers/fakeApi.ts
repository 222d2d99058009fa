/** A `DaemonApi` held in memory: runs in a table, events pushed by the test into open streams. */

import type { DaemonApi, EventsOptions, ListRunsQuery } from '../../src/common/daemon/api';
import { DaemonError } from '../../src/common/daemon/errors';
import type { StreamStatus } from '../../src/common/daemon/sse';
import type { CreateRun, DaemonEvent, DashboardLink, RunChanges, RunCreated, RunOut, RunRetried, RunWithTasks, TaskDetail, TaskOut, TemplateOut } from '../../src/common/daemon/types';
import { retryIn, runOut } from './builders';

interface Stream {
  options: EventsOptions;
  push(event: DaemonEvent): void;
  status(status: StreamStatus): void;
}

export class FakeApi implements DaemonApi {
  readonly description = 'the fake daemon';
  readonly runs = new Map<string, { run: RunOut; tasks: TaskOut[] }>();
  readonly started: CreateRun[] = [];
  readonly cancelled: string[] = [];
  readonly retried: { runId: string; tasks: readonly string[] }[] = [];
  readonly calls: string[] = [];
  readonly streams: Stream[] = [];
  templates: TemplateOut[] = [{ name: 'code_review', description: 'Review', params: ['path'] }];
  /** The changes of isolated runs, by run id; a run not here has no isolation. */
  readonly changes = new Map<string, RunChanges>();
  /** Each task's patch, by `run/task`. */
  readonly patches = new Map<string, string>();

  startRun(run: CreateRun): Promise<RunCreated> {
    this.calls.push('startRun');
    this.started.push(run);
    const id = `r${this.runs.size + 1}`;
    const created = runOut(id, { state: 'pending', name: run.template ?? null });
    this.runs.set(id, { run: created, tasks: [] });
    return Promise.resolve({ id, run: created });
  }

  listRuns(query: ListRunsQuery = {}): Promise<RunOut[]> {
    this.calls.push('listRuns');
    return Promise.resolve([...this.runs.values()].map((entry) => entry.run).filter((run) => query.state === undefined || run.state === query.state));
  }

  getRun(runId: string): Promise<RunWithTasks> {
    this.calls.push(`getRun ${runId}`);
    const entry = this.runs.get(runId);
    return entry === undefined ? Promise.reject(new DaemonError(404, 'run_not_found', `no run ${runId}`)) : Promise.resolve({ run: entry.run, tasks: entry.tasks });
  }

  getTask(runId: string, taskId: string): Promise<TaskDetail> {
    this.calls.push(`getTask ${runId} ${taskId}`);
    return Promise.resolve({ run_id: runId, task: { id: taskId, prompt: 'Review a.py' }, state: 'succeeded', attempts: [], result: null });
  }

  cancelRun(runId: string): Promise<RunOut> {
    this.cancelled.push(runId);
    const entry = this.runs.get(runId);
    const run = runOut(runId, { ...entry?.run, state: 'cancelled', active: false });
    if (entry !== undefined) {
      entry.run = run;
    }
    return Promise.resolve(run);
  }

  /** Like the daemon: the failed, cancelled and skipped tasks go back to pending and the run runs again. */
  retryRun(runId: string, tasks: readonly string[] = []): Promise<RunRetried> {
    this.retried.push({ runId, tasks });
    const entry = this.runs.get(runId);
    if (entry === undefined) {
      return Promise.reject(new DaemonError(404, 'run_not_found', `no run ${runId}`));
    }
    const retried = retryIn(entry, tasks);
    return Promise.resolve({ retried, run: entry.run });
  }

  listTemplates(): Promise<TemplateOut[]> {
    return Promise.resolve(this.templates);
  }

  dashboardLink(): Promise<DashboardLink> {
    return Promise.resolve({ url: 'http://127.0.0.1:8787/login?code=abc', expires_in_s: 120 });
  }

  getChanges(runId: string): Promise<RunChanges | undefined> {
    this.calls.push(`getChanges ${runId}`);
    return Promise.resolve(this.changes.get(runId));
  }

  taskDiff(runId: string, taskId: string): Promise<string | undefined> {
    this.calls.push(`taskDiff ${runId} ${taskId}`);
    return Promise.resolve(this.patches.get(`${runId}/${taskId}`));
  }

  events(options: EventsOptions): AsyncIterable<DaemonEvent> {
    const queue: DaemonEvent[] = [];
    let wake: (() => void) | undefined;
    const stream: Stream = {
      options,
      push: (event) => {
        queue.push(event);
        wake?.();
      },
      status: (status) => options.onStatus?.(status),
    };
    this.streams.push(stream);
    options.signal.addEventListener('abort', () => wake?.());
    return {
      async *[Symbol.asyncIterator]() {
        options.onStatus?.('live');
        while (!options.signal.aborted) {
          const next = queue.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    };
  }

  /** Sends an event to every open stream that wants it. */
  publish(event: DaemonEvent): void {
    for (const stream of this.streams) {
      if (!stream.options.signal.aborted && (stream.options.runId === undefined || stream.options.runId === event.run_id)) {
        stream.push(event);
      }
    }
  }
}
