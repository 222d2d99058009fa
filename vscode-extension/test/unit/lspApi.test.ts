import { afterEach, describe, expect, it } from 'vitest';
import { DaemonError } from '../../src/common/daemon/errors';
import { LSP_METHODS, LspDaemonApi, type DaemonInfo, type LspRequester } from '../../src/common/daemon/lspApi';
import type { DaemonEvent } from '../../src/common/daemon/types';
import { ev, runOut } from '../helpers/builders';
import { startFakeDaemon, type FakeDaemon } from '../helpers/fakeDaemon';
import { until } from '../helpers/server';

/** A language server that answers from a table, and records what it was asked. */
class FakeServer implements LspRequester {
  readonly calls: { method: string; params: unknown }[] = [];
  constructor(public answers: Record<string, (params: unknown) => unknown>) {}
  sendRequest<R>(method: string, params: unknown): Promise<R> {
    this.calls.push({ method, params });
    const answer = this.answers[method];
    if (answer === undefined) {
      return Promise.reject(Object.assign(new Error(`Unhandled method ${method}`), { code: -32601 }));
    }
    try {
      return Promise.resolve(answer(params) as R);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

describe('LspDaemonApi', () => {
  const daemons: FakeDaemon[] = [];
  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.close()));
    daemons.length = 0;
  });

  it('sends each call as the parallelai/* request the language server implements', async () => {
    const server = new FakeServer({
      [LSP_METHODS.startRun]: () => ({ id: 'r1', run: runOut('r1') }),
      [LSP_METHODS.listRuns]: () => [runOut('r1')],
      [LSP_METHODS.getRun]: () => ({ run: runOut('r1'), tasks: [] }),
      [LSP_METHODS.getTask]: () => ({ run_id: 'r1', task: { id: 't1', prompt: 'p' }, state: 'pending', attempts: [] }),
      [LSP_METHODS.cancelRun]: () => runOut('r1', { state: 'cancelled' }),
      [LSP_METHODS.retryRun]: () => ({ retried: 1, run: runOut('r1') }),
      [LSP_METHODS.listTemplates]: () => [{ name: 'code_review' }],
    });
    const api = new LspDaemonApi(server);
    const run = { template: 'code_review', params: {}, engine: 'echo', parallel: 8 };
    expect((await api.startRun(run)).id).toBe('r1');
    await api.listRuns({ state: 'running', limit: 10 });
    await api.getRun('r1');
    await api.getTask('r1', 't1');
    await api.cancelRun('r1');
    expect((await api.retryRun('r1')).retried).toBe(1);
    await api.retryRun('r1', ['t1']);
    await api.listTemplates();
    expect(server.calls).toEqual([
      { method: 'parallelai/startRun', params: { run, watch: true, progress: false } },
      { method: 'parallelai/listRuns', params: { state: 'running', limit: 10 } },
      { method: 'parallelai/getRun', params: { runId: 'r1' } },
      { method: 'parallelai/getTask', params: { runId: 'r1', taskId: 't1' } },
      { method: 'parallelai/cancelRun', params: { runId: 'r1' } },
      { method: 'parallelai/retryRun', params: { runId: 'r1', watch: true } },
      { method: 'parallelai/retryRun', params: { runId: 'r1', tasks: ['t1'], watch: true } },
      { method: 'parallelai/listTemplates', params: {} },
    ]);
  });

  it("turns the server's ResponseError into a DaemonError, keeping the daemon's code", async () => {
    const server = new FakeServer({
      [LSP_METHODS.getRun]: () => {
        throw Object.assign(new Error('no run r9'), { code: -32602, data: { code: 'run_not_found' } });
      },
    });
    const error = await new LspDaemonApi(server).getRun('r9').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonError);
    expect(error).toMatchObject({ status: -32602, code: 'run_not_found', message: 'no run r9' });
  });

  it("names the error after the server's data.type when it gives no code", async () => {
    const server = new FakeServer({
      [LSP_METHODS.getTask]: () => {
        throw Object.assign(new Error('run r1 has no task t9'), { code: -32602, data: { type: 'TaskNotFoundError' } });
      },
    });
    await expect(new LspDaemonApi(server).getTask('r1', 't9')).rejects.toMatchObject({ code: 'TaskNotFoundError', message: 'run r1 has no task t9' });
  });

  it("opens the dashboard through the daemon's one-time link, with the URL and token from parallelai/daemon", async () => {
    const daemon = await startFakeDaemon('tok-1');
    daemons.push(daemon);
    const server = new FakeServer({ [LSP_METHODS.daemon]: (): DaemonInfo => ({ url: daemon.url, token: 'tok-1', version: '0.1.0' }) });
    const link = await new LspDaemonApi(server).dashboardLink();
    expect(link.url).toContain('/login?code=');
    expect(daemon.requests.at(-1)?.headers.authorization).toBe('Bearer tok-1');
  });

  it('follows events straight from the daemon and finds it again after a restart with a new port and token', async () => {
    const first = await startFakeDaemon('tok-1');
    daemons.push(first);
    let current: DaemonInfo = { url: first.url, token: 'tok-1', version: '0.1.0' };
    const server = new FakeServer({ [LSP_METHODS.daemon]: () => current });
    const api = new LspDaemonApi(server, { retryMs: 5 });
    const abort = new AbortController();
    const seen: DaemonEvent[] = [];
    const following = (async () => {
      for await (const event of api.events({ signal: abort.signal })) {
        seen.push(event);
        if (event.type === 'run.finished') {
          abort.abort();
        }
      }
    })();
    await until(() => first.streams() === 1);
    const created = ev.created('r1', 1);
    first.publish(created);
    await until(() => seen.length === 1);

    // The daemon restarts: another port, another token; the store (and so the seq) carries on.
    const second = await startFakeDaemon('tok-2');
    daemons.push(second);
    const finished = ev.finished('r1', 'succeeded', { succeeded: 1 });
    second.events.push(created, finished);
    current = { url: second.url, token: 'tok-2', version: '0.1.0' };
    await first.close();
    await following;

    expect(seen.map((e) => e.type)).toEqual(['run.created', 'run.finished']);
    const resumed = second.requests.find((r) => r.url === '/v1/events');
    expect(resumed?.headers.authorization).toBe('Bearer tok-2');
    expect(resumed?.headers['last-event-id']).toBe(String(created.seq));
    expect(server.calls.filter((c) => c.method === LSP_METHODS.daemon).length).toBeGreaterThanOrEqual(2);
  });
});
