/** `HttpDaemonApi`: the daemon's HTTP API and SSE streams over `fetch`, with the token as a header. */

import type { DaemonApi, EventsOptions, ListRunsQuery } from './api';
import { DaemonError, errorMessage } from './errors';
import { followSse } from './sse';
import type {
  CreateRun,
  DaemonEvent,
  DashboardLink,
  Health,
  RunChanges,
  RunCreated,
  RunOut,
  RunRetried,
  RunWithTasks,
  TaskDetail,
  TaskOut,
  TemplateOut,
} from './types';
import { parseDaemonEvent, parseRunChanges } from './validate';

/** The media type of a patch the daemon serves. */
const PATCH = 'text/x-diff';
/** The run's change counter at a read of its tasks (`TASKS_CURSOR_HEADER` in parallelai/wire.py). */
const CURSOR_HEADER = 'ParallelAI-Cursor';

export interface Credentials {
  url: string;
  token: string;
}

export interface HttpDaemonApiOptions {
  fetch?: typeof fetch;
  /** First SSE reconnection delay in ms (tests make it short). */
  retryMs?: number;
  /** How messages name this daemon, e.g. its URL. */
  description?: string;
}

export class HttpDaemonApi implements DaemonApi {
  private readonly fetchFn: typeof fetch;

  /** @param credentials called for every request, so a provider can follow a restarted daemon */
  constructor(
    private readonly credentials: () => Promise<Credentials>,
    private readonly options: HttpDaemonApiOptions = {},
  ) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  get description(): string {
    return this.options.description ?? 'the daemon';
  }

  health(): Promise<Health> {
    return this.request('GET', '/v1/health');
  }

  startRun(run: CreateRun): Promise<RunCreated> {
    return this.request('POST', '/v1/runs', run);
  }

  listRuns(query: ListRunsQuery = {}): Promise<RunOut[]> {
    const search = new URLSearchParams();
    if (query.state !== undefined) {
      search.set('state', query.state);
    }
    if (query.limit !== undefined) {
      search.set('limit', String(query.limit));
    }
    const suffix = search.size > 0 ? `?${search.toString()}` : '';
    return this.request('GET', `/v1/runs${suffix}`);
  }

  async getRun(runId: string, changedAfter?: number): Promise<RunWithTasks> {
    const path = `/v1/runs/${encodeURIComponent(runId)}`;
    const query = changedAfter === undefined ? '' : `?changed_after=${changedAfter}`;
    const [run, table] = await Promise.all([
      this.request<RunOut>('GET', path),
      this.exchange('GET', `${path}/tasks${query}`, undefined, 'application/json'),
    ]);
    const tasks = parseJson(table.text) as TaskOut[];
    const header = table.headers.get(CURSOR_HEADER);
    const cursor = header === null || !/^\d+$/.test(header.trim()) ? undefined : Number(header);
    if (cursor === undefined) {
      return { run, tasks }; // a daemon that does not count changes answered with every task
    }
    return { run, tasks, cursor, changedOnly: changedAfter !== undefined };
  }

  getTask(runId: string, taskId: string): Promise<TaskDetail> {
    return this.request('GET', `/v1/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(taskId)}`);
  }

  cancelRun(runId: string): Promise<RunOut> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(runId)}/cancel`, {});
  }

  retryRun(runId: string, tasks: readonly string[] = []): Promise<RunRetried> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(runId)}/retry`, tasks.length > 0 ? { tasks } : {});
  }

  listTemplates(): Promise<TemplateOut[]> {
    return this.request('GET', '/v1/templates');
  }

  dashboardLink(): Promise<DashboardLink> {
    return this.request('POST', '/v1/dashboard/link', {});
  }

  async getChanges(runId: string): Promise<RunChanges | undefined> {
    const answer = await absentAsUndefined(this.request<unknown>('GET', `/v1/runs/${encodeURIComponent(runId)}/changes`));
    if (answer === undefined) {
      return undefined;
    }
    const changes = parseRunChanges(answer);
    if (changes === undefined) {
      throw new DaemonError(0, 'malformed', `the daemon's changes of run ${runId} are not in a shape this extension reads`);
    }
    return changes;
  }

  taskDiff(runId: string, taskId: string): Promise<string | undefined> {
    const path = `/v1/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(taskId)}/diff`;
    return absentAsUndefined(this.send('GET', path, undefined, PATCH));
  }

  async *events(options: EventsOptions): AsyncGenerator<DaemonEvent, void, undefined> {
    const path = options.runId === undefined ? '/v1/events' : `/v1/runs/${encodeURIComponent(options.runId)}/events`;
    let lastSeq = options.after ?? -1;
    const messages = followSse({
      target: async () => {
        const { url, token } = await this.credentials();
        return { url: joinUrl(url, path), headers: { Authorization: `Bearer ${token}` } };
      },
      lastEventId: options.after === undefined ? undefined : String(options.after),
      signal: options.signal,
      onStatus: options.onStatus,
      fetch: this.fetchFn,
      retryMs: this.options.retryMs,
    });
    for await (const message of messages) {
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        continue;
      }
      const event = parseDaemonEvent(data);
      // A replay never repeats an event, but a seq at or below one already seen would be one.
      if (event !== undefined && event.seq > lastSeq) {
        lastSeq = event.seq;
        yield event;
      }
    }
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    return parseJson(await this.send(method, path, body, 'application/json')) as T;
  }

  /** The body of a 2xx answer as text; a DaemonError for any other. */
  private async send(method: 'GET' | 'POST', path: string, body: unknown, accept: string): Promise<string> {
    return (await this.exchange(method, path, body, accept)).text;
  }

  /** The body of a 2xx answer as text, with its headers; a DaemonError for any other. */
  private async exchange(method: 'GET' | 'POST', path: string, body: unknown, accept: string): Promise<{ text: string; headers: Headers }> {
    let credentials: Credentials;
    let response: Response;
    try {
      credentials = await this.credentials();
    } catch (error) {
      if (error instanceof DaemonError) {
        throw error;
      }
      throw new DaemonError(0, 'unreachable', errorMessage(error));
    }
    const headers: Record<string, string> = { Authorization: `Bearer ${credentials.token}`, Accept: accept };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      response = await this.fetchFn(joinUrl(credentials.url, path), init);
    } catch (error) {
      const reason = errorMessage(error);
      throw new DaemonError(0, 'unreachable', `cannot reach the daemon at ${credentials.url} (${reason})`);
    }
    const text = await response.text();
    if (!response.ok) {
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw DaemonError.fromBody(response.status, parsed);
    }
    return { text, headers: response.headers };
  }
}

/** A JSON body, or undefined for an empty or malformed one. */
function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * Undefined for a 404 or 409: the run has no isolation (409 `not_isolated`), the task no change,
 * or the daemon predates the endpoint (404). Any other error stands.
 */
export async function absentAsUndefined<T>(answer: Promise<T>): Promise<T | undefined> {
  try {
    return await answer;
  } catch (error) {
    if (error instanceof DaemonError && (error.status === 404 || error.status === 409)) {
      return undefined;
    }
    throw error;
  }
}

export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}
