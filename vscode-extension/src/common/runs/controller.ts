/**
 * `RunsController`: keeps the `RunsModel` in step with the daemon. It reads the run list on every
 * (re)connection, follows every run's events, batches them, and reads a run again when an event
 * names one it cannot place. It imports no `vscode`, so tests drive it with a fake `DaemonApi`.
 */

import type { DaemonApi } from '../daemon/api';
import { errorMessage } from '../daemon/errors';
import type { StreamStatus } from '../daemon/sse';
import type { DaemonEvent, RunChanges } from '../daemon/types';
import { Emitter } from '../util/emitter';
import type { Logger } from '../util/logger';
import { RunChangesCache } from './changes';
import { RunsModel } from './runsModel';
import type { RunView } from './runView';

/** `failed`: the way to the daemon could not even be set up (the language server did not start). */
export type ConnectionStatus = 'disconnected' | 'failed' | StreamStatus;

export interface RunsControllerOptions {
  /** How long events are gathered before the model applies them. */
  batchMs?: number;
  /** How many runs the list shows. */
  limit?: number;
}

export class RunsController {
  readonly model = new RunsModel();
  /** The changes of isolated runs, as last read. */
  readonly changes = new RunChangesCache();
  private currentApi: DaemonApi | undefined;
  private awaitingApi: ((api: DaemonApi) => void)[] = [];
  private abort: AbortController | undefined;
  private pending: DaemonEvent[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly loading = new Map<string, Promise<RunView | undefined>>();
  /** Each run's change counter at the last read of its table: a read again asks only for what changed since. */
  private readonly cursors = new Map<string, number>();
  private statusValue: ConnectionStatus = 'disconnected';
  private readonly statusChanged = new Emitter<ConnectionStatus>();
  readonly onDidChangeStatus = this.statusChanged.event;
  private readonly batchMs: number;
  private readonly limit: number;

  constructor(
    private readonly log: Logger,
    options: RunsControllerOptions = {},
  ) {
    this.batchMs = options.batchMs ?? 100;
    this.limit = options.limit ?? 50;
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  get api(): DaemonApi | undefined {
    return this.currentApi;
  }

  /** The daemon's API once there is a connection: now, or at the next `connect`. */
  whenConnected(): Promise<DaemonApi> {
    const api = this.currentApi;
    return api !== undefined ? Promise.resolve(api) : new Promise((resolve) => this.awaitingApi.push(resolve));
  }

  /** Starts following `api` (and stops following the previous one). */
  connect(api: DaemonApi): void {
    this.stop();
    this.model.clear(); // a new connection starts from its own snapshot, not the last one's
    this.changes.clear();
    this.cursors.clear();
    this.currentApi = api;
    for (const resolve of this.awaitingApi.splice(0)) {
      resolve(api);
    }
    const abort = new AbortController();
    this.abort = abort;
    void this.follow(api, abort.signal);
  }

  /** Says that no connection could be made, until the next `connect`. */
  failed(): void {
    this.stop();
    this.currentApi = undefined;
    this.setStatus('failed');
  }

  disconnect(): void {
    this.stop();
    this.currentApi = undefined;
    this.model.clear();
    this.changes.clear();
    this.cursors.clear();
    this.setStatus('disconnected');
  }

  /** Reads the run list again, and the task tables of the runs still going. */
  async refresh(): Promise<void> {
    const api = this.currentApi;
    if (api === undefined) {
      return;
    }
    const runs = await api.listRuns({ limit: this.limit });
    if (api !== this.currentApi) {
      return;
    }
    this.model.replaceAll(runs);
    await Promise.all(runs.filter((run) => run.active).map((run) => this.loadRun(run.id)));
  }

  /**
   * The run with its task table, read once at a time per run. Once the table was read, only the
   * tasks changed since are read (over HTTP; the language server reads them all).
   */
  loadRun(runId: string): Promise<RunView | undefined> {
    const api = this.currentApi;
    if (api === undefined) {
      return Promise.resolve(undefined);
    }
    let loading = this.loading.get(runId);
    if (loading === undefined) {
      const after = this.model.get(runId)?.tableRead === true ? this.cursors.get(runId) : undefined;
      loading = api
        .getRun(runId, after)
        .then(({ run, tasks, cursor, changedOnly }) => {
          if (api !== this.currentApi) {
            return undefined;
          }
          const onTable = changedOnly !== true || this.model.get(runId)?.tableRead === true;
          this.model.upsert(run, tasks, changedOnly === true);
          if (cursor !== undefined && onTable) {
            this.cursors.set(runId, cursor);
          } else {
            this.cursors.delete(runId); // the next read is a whole one
          }
          return this.model.get(runId);
        })
        .catch((error: unknown) => {
          this.log.warn(`could not read run ${runId}: ${errorMessage(error)}`);
          return undefined;
        })
        .finally(() => this.loading.delete(runId));
      this.loading.set(runId, loading);
    }
    return loading;
  }

  /**
   * An isolated run's changes, read again when its tasks have finished since the last read;
   * undefined for a run without isolation. A failed read is logged and the last answer kept.
   */
  async loadChanges(runId: string): Promise<RunChanges | undefined> {
    const api = this.currentApi;
    const run = this.model.get(runId);
    if (api === undefined || run === undefined) {
      return undefined;
    }
    try {
      return await this.changes.refresh(api, run);
    } catch (error) {
      this.log.warn(`could not read the changes of run ${runId}: ${errorMessage(error)}`);
      return this.changes.get(runId);
    }
  }

  dispose(): void {
    this.stop();
    this.model.dispose();
    this.statusChanged.dispose();
  }

  private stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    this.pending = [];
  }

  private async follow(api: DaemonApi, signal: AbortSignal): Promise<void> {
    try {
      const events = api.events({
        signal,
        onStatus: (status, detail) => {
          if (signal.aborted) {
            return;
          }
          if (detail !== undefined) {
            this.log.info(`event stream ${status}: ${detail}`);
          }
          this.setStatus(status);
          if (status === 'live') {
            // Events from before this connection were not replayed (the global stream starts
            // now), so the list is read again: nothing that happened while away is missed.
            this.refresh().catch((error: unknown) => this.log.warn(`could not list runs: ${errorMessage(error)}`));
          }
        },
      });
      for await (const event of events) {
        this.pending.push(event);
        this.flushTimer ??= setTimeout(() => this.flush(), this.batchMs);
      }
    } catch (error) {
      if (!signal.aborted) {
        this.log.error(`the event stream stopped: ${errorMessage(error)}`);
        this.setStatus('closed');
      }
    }
  }

  private flush(): void {
    this.flushTimer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.model.apply(batch);
    const unknown = new Set(batch.map((event) => event.run_id).filter((id) => this.model.get(id) === undefined));
    for (const runId of [...unknown, ...this.model.stale()]) {
      void this.loadRun(runId);
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (status !== this.statusValue) {
      this.statusValue = status;
      this.statusChanged.fire(status);
    }
  }
}
