/**
 * `DaemonApi`: everything the extension asks of the daemon. Two implementations: over HTTP and
 * SSE (`HttpDaemonApi`, the web build) and over the language server (`LspDaemonApi`, desktop).
 */

import type { StreamStatus } from './sse';
import type {
  CreateRun,
  DaemonEvent,
  DashboardLink,
  RunCreated,
  RunChanges,
  RunOut,
  RunRetried,
  RunState,
  RunWithTasks,
  TaskDetail,
  TemplateOut,
} from './types';

export interface ListRunsQuery {
  state?: RunState;
  limit?: number;
}

export interface EventsOptions {
  /** One run's events from its start, or (when absent) every run's events from now on. */
  runId?: string | undefined;
  /** Replay events with a larger seq first. */
  after?: number | undefined;
  signal: AbortSignal;
  onStatus?: ((status: StreamStatus, detail?: string) => void) | undefined;
}

export interface DaemonApi {
  /** How the extension reaches the daemon, for messages: "the language server" or a URL. */
  readonly description: string;
  startRun(run: CreateRun): Promise<RunCreated>;
  listRuns(query?: ListRunsQuery): Promise<RunOut[]>;
  /**
   * The run and its task table. With `changedAfter` (the `cursor` of an earlier read), an API that
   * can reads only the tasks changed since and says so (`changedOnly`); one that cannot (the
   * language server, an older daemon) reads them all.
   */
  getRun(runId: string, changedAfter?: number): Promise<RunWithTasks>;
  getTask(runId: string, taskId: string): Promise<TaskDetail>;
  cancelRun(runId: string): Promise<RunOut>;
  /**
   * Runs a finished run's failed, cancelled and skipped tasks again (or only `tasks`), with the
   * tasks that depend on them; its successes are kept. The run's event stream goes on with it.
   */
  retryRun(runId: string, tasks?: readonly string[]): Promise<RunRetried>;
  listTemplates(): Promise<TemplateOut[]>;
  /**
   * An isolated run's branch and each task's captured change (a diffstat per file); undefined for
   * a run without isolation, or a daemon too old to say.
   */
  getChanges(runId: string): Promise<RunChanges | undefined>;
  /** The patch one task of an isolated run made, as captured; undefined when it has none. */
  taskDiff(runId: string, taskId: string): Promise<string | undefined>;
  dashboardLink(): Promise<DashboardLink>;
  /** Follows the event stream across dropped connections until `signal` aborts. */
  events(options: EventsOptions): AsyncIterable<DaemonEvent>;
}
