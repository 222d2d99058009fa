/**
 * A stand-in for `parallelai serve` on a real loopback socket: the routes the extension calls,
 * the bearer-token check, JSON errors in the daemon's shape, and SSE streams that replay from
 * `Last-Event-ID`. Tests append events and drop connections at will.
 */

import type { ServerResponse } from 'node:http';
import type { DaemonEvent, RunChanges, RunOut, TaskOut } from '../../src/common/daemon/types';
import { retryIn } from './builders';
import { json, openStream, startServer, type SeenRequest, type TestServer } from './server';

/**
 * A run as the fake serves it. With `cursor` it counts changes like a daemon that does: its task
 * list carries `ParallelAI-Cursor: cursor` and, asked `changed_after=N`, lists only the tasks whose
 * `changed` mark is above N. Without, it ignores `changed_after`, as an older daemon would.
 */
export interface FakeRun {
  run: RunOut;
  tasks: TaskOut[];
  cursor?: number;
  changed?: Record<string, number>;
}

export interface FakeDaemon extends TestServer {
  token: string;
  runs: Map<string, FakeRun>;
  /** The changes of the runs with isolation, and each task's patch (by `run/task`). */
  changes: Map<string, RunChanges>;
  patches: Map<string, string>;
  events: DaemonEvent[];
  /** Sends an event to the open streams (and keeps it for replays). */
  publish(event: DaemonEvent): void;
  /** Kills every open event stream, as a crash or a network blip would. */
  dropStreams(): void;
  streams(): number;
}

function error(response: ServerResponse, status: number, code: string, message: string): void {
  json(response, status, { error: { status, code, message, details: [] } });
}

export async function startFakeDaemon(token = 'secret-token'): Promise<FakeDaemon> {
  const runs = new Map<string, FakeRun>();
  const changes = new Map<string, RunChanges>();
  const patches = new Map<string, string>();
  const events: DaemonEvent[] = [];
  const open = new Set<{ response: ServerResponse; runId: string | undefined }>();

  const write = (response: ServerResponse, event: DaemonEvent): void => {
    response.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };

  const handler = (request: SeenRequest, response: ServerResponse): void => {
    if (request.headers.authorization !== `Bearer ${token}`) {
      error(response, 401, 'unauthorized', 'missing or wrong token');
      return;
    }
    const url = new URL(request.url, 'http://127.0.0.1');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const route = `${request.method} /${parts.map((part, index) => (index >= 2 && parts[1] === 'runs' && (index === 2 || index === 4) ? '*' : part)).join('/')}`;
    const run = parts[1] === 'runs' && parts[2] !== undefined ? runs.get(parts[2]) : undefined;
    if (parts[1] === 'runs' && parts[2] !== undefined && run === undefined) {
      error(response, 404, 'run_not_found', `no run ${parts[2]}`);
      return;
    }
    switch (route) {
      case 'GET /v1/health':
        json(response, 200, { status: 'ok', pid: 1, version: '0.1.0', last_seq: events.at(-1)?.seq ?? 0 });
        return;
      case 'GET /v1/templates':
        json(response, 200, [{ name: 'code_review', description: 'Review every file', params: ['path', 'files'] }]);
        return;
      case 'POST /v1/dashboard/link':
        json(response, 201, { url: `http://127.0.0.1/login?code=one-time`, expires_in_s: 120 });
        return;
      case 'POST /v1/runs': {
        const body = JSON.parse(request.body) as { name?: string; template?: string };
        const id = `r${runs.size + 1}`;
        const created: RunOut = {
          id, name: body.name ?? body.template ?? null, strategy: 'parallel', state: 'pending', created_at: 1_800_000_000, finished_at: null,
          elapsed_s: 0, total: 2, counts: { pending: 2 }, usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 }, active: true,
        };
        runs.set(id, { run: created, tasks: [] });
        json(response, 201, { id, run: created });
        return;
      }
      case 'GET /v1/runs': {
        const limit = Number(url.searchParams.get('limit') ?? '50');
        const state = url.searchParams.get('state');
        json(response, 200, [...runs.values()].map((entry) => entry.run).filter((r) => state === null || r.state === state).slice(0, limit));
        return;
      }
      case 'GET /v1/runs/*':
        json(response, 200, run?.run);
        return;
      case 'GET /v1/runs/*/tasks': {
        const after = url.searchParams.get('changed_after');
        if (run?.cursor === undefined) {
          json(response, 200, run?.tasks);
          return;
        }
        const tasks = after === null ? run.tasks : run.tasks.filter((task) => (run.changed?.[task.id] ?? 0) > Number(after));
        response.setHeader('ParallelAI-Cursor', String(run.cursor));
        json(response, 200, tasks);
        return;
      }
      case 'GET /v1/runs/*/tasks/*': {
        const task = run?.tasks.find((t) => t.id === parts[4]);
        if (task === undefined) {
          error(response, 404, 'task_not_found', `no task ${parts[4]}`);
          return;
        }
        json(response, 200, { run_id: parts[2], task: { id: task.id, prompt: 'p' }, state: task.state, attempts: [], result: null, log: [] });
        return;
      }
      case 'GET /v1/runs/*/changes':
      case 'GET /v1/runs/*/tasks/*/diff': {
        const answer = changes.get(parts[2] ?? '');
        if (answer === undefined) {
          error(response, 409, 'not_isolated', `run ${parts[2]} did not run with isolation`);
          return;
        }
        if (parts[4] === undefined) {
          json(response, 200, answer);
          return;
        }
        const patch = patches.get(`${parts[2]}/${parts[4]}`);
        if (patch === undefined) {
          error(response, 404, 'change_not_found', `task ${parts[4]} has no captured change`);
          return;
        }
        response.writeHead(200, { 'Content-Type': 'text/x-diff; charset=utf-8' });
        response.end(patch);
        return;
      }
      case 'POST /v1/runs/*/cancel': {
        if (run !== undefined) {
          run.run = { ...run.run, state: 'cancelled', active: false, finished_at: 1_800_000_100 };
        }
        json(response, 200, run?.run);
        return;
      }
      case 'POST /v1/runs/*/retry': {
        const body = request.body === '' ? {} : (JSON.parse(request.body) as { tasks?: string[] });
        const retried = run === undefined ? 0 : retryIn(run, body.tasks ?? []);
        json(response, 200, { retried, run: run?.run });
        return;
      }
      case 'GET /v1/events':
      case 'GET /v1/runs/*/events': {
        const header = request.headers['last-event-id'];
        const query = url.searchParams.get('after');
        const runId = parts[1] === 'runs' ? parts[2] : undefined;
        const after = header !== undefined ? Number(header) : query !== null ? Number(query) : runId !== undefined ? 0 : (events.at(-1)?.seq ?? 0);
        openStream(response);
        for (const event of events) {
          if (event.seq > after && (runId === undefined || event.run_id === runId)) {
            write(response, event);
          }
        }
        const stream = { response, runId };
        open.add(stream);
        response.on('close', () => open.delete(stream));
        return;
      }
      default:
        error(response, 404, 'not_found', `no route ${route}`);
    }
  };

  const server = await startServer(handler);
  return {
    ...server,
    token,
    runs,
    changes,
    patches,
    events,
    publish(event) {
      events.push(event);
      for (const stream of open) {
        if (stream.runId === undefined || stream.runId === event.run_id) {
          write(stream.response, event);
        }
      }
    },
    dropStreams() {
      for (const stream of open) {
        stream.response.destroy();
      }
      open.clear();
    },
    streams: () => open.size,
  };
}
