/**
 * `LspDaemonApi`: the desktop's way to the daemon, through the language server (`parallelai lsp`).
 *
 * Requests go to the server (`parallelai/startRun`…), which starts the daemon when none runs and,
 * for runs it watches, publishes their findings as diagnostics. Events, the dashboard link and an
 * isolated run's changes and patches come from the daemon itself over HTTP, with the URL and token
 * the server hands out (`parallelai/daemon`): one SSE stream for every run is cheaper than a watch
 * per run, and the credentials are asked again after a failure, so a restarted daemon is followed.
 */

import type { DaemonApi, EventsOptions, ListRunsQuery } from './api';
import { DaemonError } from './errors';
import { HttpDaemonApi, type Credentials } from './httpApi';
import { isRecord, isString } from './validate';
import type {
  CreateRun,
  DaemonEvent,
  DashboardLink,
  RunChanges,
  RunCreated,
  RunOut,
  RunRetried,
  RunWithTasks,
  TaskDetail,
  TemplateOut,
} from './types';

/** The slice of a language client this needs; `vscode-languageclient`'s `LanguageClient` has it. */
export interface LspRequester {
  sendRequest<R>(method: string, params: unknown): Promise<R>;
}

/** The answer to `parallelai/daemon`. */
export interface DaemonInfo {
  url: string;
  token: string;
  version: string;
}

export const LSP_METHODS = {
  daemon: 'parallelai/daemon',
  startRun: 'parallelai/startRun',
  listRuns: 'parallelai/listRuns',
  getRun: 'parallelai/getRun',
  getTask: 'parallelai/getTask',
  cancelRun: 'parallelai/cancelRun',
  retryRun: 'parallelai/retryRun',
  listTemplates: 'parallelai/listTemplates',
} as const;

export class LspDaemonApi implements DaemonApi {
  private readonly http: HttpDaemonApi;
  private cached: Promise<Credentials> | undefined;

  constructor(
    private readonly client: LspRequester,
    options: { fetch?: typeof fetch; retryMs?: number } = {},
  ) {
    this.http = new HttpDaemonApi(() => this.credentials(), options);
  }

  readonly description = 'the ParallelAI language server';

  /** Asks the server for the daemon's URL, token and version (a fresh answer, not the cached one). */
  async daemon(): Promise<DaemonInfo> {
    return this.call<DaemonInfo>(LSP_METHODS.daemon, {});
  }

  startRun(run: CreateRun): Promise<RunCreated> {
    // `watch`: the server follows the run and publishes its findings as diagnostics;
    // `progress: false`: the run panel shows progress, a notification would repeat it.
    return this.call(LSP_METHODS.startRun, { run, watch: true, progress: false });
  }

  listRuns(query: ListRunsQuery = {}): Promise<RunOut[]> {
    return this.call(LSP_METHODS.listRuns, query);
  }

  getRun(runId: string): Promise<RunWithTasks> {
    return this.call(LSP_METHODS.getRun, { runId });
  }

  getTask(runId: string, taskId: string): Promise<TaskDetail> {
    return this.call(LSP_METHODS.getTask, { runId, taskId });
  }

  cancelRun(runId: string): Promise<RunOut> {
    return this.call(LSP_METHODS.cancelRun, { runId });
  }

  retryRun(runId: string, tasks: readonly string[] = []): Promise<RunRetried> {
    // `watch`: as for a started run, the server publishes the findings once the retry ends.
    return this.call(LSP_METHODS.retryRun, tasks.length > 0 ? { runId, tasks, watch: true } : { runId, watch: true });
  }

  listTemplates(): Promise<TemplateOut[]> {
    return this.call(LSP_METHODS.listTemplates, {});
  }

  dashboardLink(): Promise<DashboardLink> {
    return this.withFreshCredentials(() => this.http.dashboardLink());
  }

  // The language server has no methods for changes: like events, they come from the daemon itself.
  getChanges(runId: string): Promise<RunChanges | undefined> {
    return this.withFreshCredentials(() => this.http.getChanges(runId));
  }

  taskDiff(runId: string, taskId: string): Promise<string | undefined> {
    return this.withFreshCredentials(() => this.http.taskDiff(runId, taskId));
  }

  async *events(options: EventsOptions): AsyncGenerator<DaemonEvent, void, undefined> {
    const onStatus = options.onStatus;
    yield* this.http.events({
      ...options,
      onStatus: (status, detail) => {
        if (status === 'unauthorized' || status === 'reconnecting') {
          this.cached = undefined; // the daemon may have restarted with a new port and token
        }
        onStatus?.(status, detail);
      },
    });
  }

  private credentials(): Promise<Credentials> {
    this.cached ??= this.daemon().then(({ url, token }) => ({ url, token }));
    const pending = this.cached;
    pending.catch(() => {
      if (this.cached === pending) {
        this.cached = undefined;
      }
    });
    return pending;
  }

  private async withFreshCredentials<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof DaemonError && (error.status === 0 || error.status === 401)) {
        this.cached = undefined;
        return call();
      }
      throw error;
    }
  }

  private async call<T>(method: string, params: unknown): Promise<T> {
    try {
      return await this.client.sendRequest<T>(method, params);
    } catch (error) {
      throw toDaemonError(error);
    }
  }
}

/**
 * A JSON-RPC `ResponseError` (`{code, message, data}`) as a `DaemonError`. The server words its
 * messages for people and names the kind of error in `data.type` (`RunNotFoundError`…), which
 * becomes the code.
 */
function toDaemonError(error: unknown): DaemonError {
  if (error instanceof DaemonError) {
    return error;
  }
  if (!isRecord(error) && !(error instanceof Error)) {
    return new DaemonError(-1, 'language_server', String(error));
  }
  const { code, message, data } = error as { code?: unknown; message?: unknown; data?: unknown };
  const kind = isRecord(data) ? (isString(data.code) ? data.code : isString(data.type) ? data.type : undefined) : undefined;
  return new DaemonError(typeof code === 'number' ? code : -1, kind ?? 'language_server', String(message));
}
