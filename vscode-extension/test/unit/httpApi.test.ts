import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonError } from '../../src/common/daemon/errors';
import { HttpDaemonApi, joinUrl } from '../../src/common/daemon/httpApi';
import type { DaemonEvent } from '../../src/common/daemon/types';
import { ev, runOut, taskOut } from '../helpers/builders';
import { startFakeDaemon, type FakeDaemon } from '../helpers/fakeDaemon';
import { until } from '../helpers/server';

describe('HttpDaemonApi', () => {
  let daemon: FakeDaemon;
  let api: HttpDaemonApi;

  beforeEach(async () => {
    daemon = await startFakeDaemon();
    api = new HttpDaemonApi(() => Promise.resolve({ url: `${daemon.url}/`, token: daemon.token }), { retryMs: 5 });
  });
  afterEach(() => daemon.close());

  it('starts a run with a JSON body and the token as a bearer header', async () => {
    const created = await api.startRun({ template: 'code_review', params: {}, engine: 'echo', parallel: 4 });
    expect(created.id).toBe('r1');
    expect(created.run.state).toBe('pending');
    const request = daemon.requests.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/runs');
    expect(request.headers.authorization).toBe(`Bearer ${daemon.token}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({ template: 'code_review', params: {}, engine: 'echo', parallel: 4 });
  });

  it('reads a run together with its task table', async () => {
    daemon.runs.set('r7', { run: runOut('r7'), tasks: [taskOut('t1', 'succeeded'), taskOut('t2', 'running')] });
    const { run, tasks } = await api.getRun('r7');
    expect(run.id).toBe('r7');
    expect(tasks.map((task) => task.id)).toEqual(['t1', 't2']);
    expect(daemon.requests.map((r) => r.url).sort()).toEqual(['/v1/runs/r7', '/v1/runs/r7/tasks']);
  });

  it('reads only the tasks changed after a cursor, and the cursor to ask with next', async () => {
    const tasks = [taskOut('t1', 'succeeded'), taskOut('t2', 'running'), taskOut('t3', 'failed')];
    daemon.runs.set('r7', { run: runOut('r7'), tasks, cursor: 9, changed: { t1: 3, t2: 8, t3: 9 } });
    const whole = await api.getRun('r7');
    expect(whole.tasks.map((task) => task.id)).toEqual(['t1', 't2', 't3']);
    expect(whole).toMatchObject({ cursor: 9, changedOnly: false });
    const changes = await api.getRun('r7', 5);
    expect(daemon.requests.map((r) => r.url)).toContain('/v1/runs/r7/tasks?changed_after=5');
    expect(changes.tasks.map((task) => task.id)).toEqual(['t2', 't3']);
    expect(changes).toMatchObject({ cursor: 9, changedOnly: true });
  });

  it('takes a whole table from a daemon that does not count changes', async () => {
    daemon.runs.set('r7', { run: runOut('r7'), tasks: [taskOut('t1', 'succeeded'), taskOut('t2', 'running')] });
    const answer = await api.getRun('r7', 5);
    expect(answer.tasks.map((task) => task.id)).toEqual(['t1', 't2']);
    expect(answer.cursor).toBeUndefined();
    expect(answer.changedOnly).toBeUndefined();
  });

  it('lists runs with the query, cancels, reads tasks, templates and the dashboard link', async () => {
    daemon.runs.set('r1', { run: runOut('r1'), tasks: [taskOut('t1', 'failed', { error: 'boom' })] });
    daemon.runs.set('r2', { run: runOut('r2', { state: 'succeeded', active: false }), tasks: [] });
    expect((await api.listRuns({ state: 'running', limit: 5 })).map((r) => r.id)).toEqual(['r1']);
    expect(daemon.requests.at(-1)?.url).toBe('/v1/runs?state=running&limit=5');
    expect((await api.cancelRun('r1')).state).toBe('cancelled');
    expect(daemon.requests.at(-1)).toMatchObject({ method: 'POST', url: '/v1/runs/r1/cancel' });
    expect((await api.getTask('r1', 't1')).state).toBe('failed');
    expect((await api.listTemplates())[0]?.name).toBe('code_review');
    const link = await api.dashboardLink();
    expect(link.url).toContain('/login?code=');
    expect(link.url).not.toContain(daemon.token);
  });

  it("reads an isolated run's changes and a task's patch; a run without isolation has none", async () => {
    daemon.runs.set('r1', { run: runOut('r1'), tasks: [taskOut('t1', 'succeeded')] });
    daemon.runs.set('r2', { run: runOut('r2'), tasks: [taskOut('t1', 'succeeded')] });
    const changes = {
      run_id: 'r1',
      branch: 'parallelai/r1',
      base: 'b'.repeat(40),
      tasks: [{ task_id: 't1', outcome: 'merged', commit: 'c'.repeat(40), insertions: 1, deletions: 0, files: [{ path: 'a.txt', insertions: 1, deletions: 0, binary: false }] }],
    };
    daemon.changes.set('r1', changes);
    daemon.patches.set('r1/t1', 'diff --git a/a.txt b/a.txt\n+é\n');
    expect(await api.getChanges('r1')).toEqual(changes);
    expect(await api.taskDiff('r1', 't1')).toBe('diff --git a/a.txt b/a.txt\n+é\n');
    expect(daemon.requests.at(-1)?.headers.accept).toBe('text/x-diff');
    expect(await api.taskDiff('r1', 'other')).toBeUndefined(); // 404: no change captured
    expect(await api.getChanges('r2')).toBeUndefined(); // 409: not isolated
    expect(await api.taskDiff('r2', 't1')).toBeUndefined();
    expect(await api.getChanges('gone')).toBeUndefined(); // 404: no such run (or a daemon without the endpoint)
  });

  it('refuses changes in a shape it does not read', async () => {
    daemon.runs.set('r1', { run: runOut('r1'), tasks: [] });
    daemon.changes.set('r1', { run_id: 'r1', branch: 'parallelai/r1', base: 'b', tasks: [{ task_id: 't1' }] } as never);
    await expect(api.getChanges('r1')).rejects.toMatchObject({ code: 'malformed' });
  });

  it('retries a run: all its failed tasks with an empty body, or those named', async () => {
    daemon.runs.set('r1', { run: runOut('r1', { state: 'failed', active: false }), tasks: [taskOut('t1', 'failed'), taskOut('t2', 'skipped')] });
    const retried = await api.retryRun('r1', ['t1']);
    expect(retried).toMatchObject({ retried: 1, run: { state: 'running', active: true, executed_by: 'the daemon (pid 1)' } });
    expect(daemon.requests.at(-1)).toMatchObject({ method: 'POST', url: '/v1/runs/r1/retry' });
    expect(JSON.parse(daemon.requests.at(-1)!.body)).toEqual({ tasks: ['t1'] });
    expect((await api.retryRun('r1')).retried).toBe(1);
    expect(JSON.parse(daemon.requests.at(-1)!.body)).toEqual({});
    expect((await api.retryRun('r1')).retried).toBe(0);
  });

  it("turns the daemon's JSON error into a DaemonError with its code", async () => {
    const error = await api.getRun('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonError);
    expect(error).toMatchObject({ status: 404, code: 'run_not_found', message: 'no run nope' });
  });

  it('reports a wrong token as unauthorized', async () => {
    const wrong = new HttpDaemonApi(() => Promise.resolve({ url: daemon.url, token: 'wrong' }));
    await expect(wrong.health()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('reports a daemon that is not there as unreachable', async () => {
    const url = daemon.url;
    await daemon.close();
    const gone = new HttpDaemonApi(() => Promise.resolve({ url, token: 't' }));
    await expect(gone.health()).rejects.toMatchObject({ status: 0, code: 'unreachable' });
  });

  it("follows a run's events across a dropped connection, each event exactly once", async () => {
    daemon.runs.set('r1', { run: runOut('r1'), tasks: [] });
    daemon.events.push(ev.created('r1', 2), ev.started('r1'));
    daemon.events.push(ev.created('other', 1));
    const abort = new AbortController();
    const seen: DaemonEvent[] = [];
    const statuses: string[] = [];
    const following = (async () => {
      for await (const event of api.events({ runId: 'r1', after: 0, signal: abort.signal, onStatus: (s) => statuses.push(s) })) {
        seen.push(event);
        if (event.type === 'run.finished') {
          abort.abort();
        }
      }
    })();
    await until(() => seen.length === 2 && daemon.streams() === 1);
    daemon.publish(ev.task('r1', 't1', 'running'));
    await until(() => seen.length === 3);
    daemon.dropStreams();
    // Published while the client is away: the replay from Last-Event-ID must bring them.
    daemon.publish(ev.task('r1', 't1', 'succeeded'));
    daemon.publish(ev.task('r1', 't2', 'succeeded'));
    await until(() => daemon.streams() === 1);
    daemon.publish(ev.finished('r1', 'succeeded', { succeeded: 2 }));
    await following;
    expect(seen.map((e) => e.type)).toEqual(['run.created', 'run.started', 'task.state', 'task.state', 'task.state', 'run.finished']);
    expect(seen.every((e) => e.run_id === 'r1')).toBe(true);
    const streamRequests = daemon.requests.filter((r) => r.url === '/v1/runs/r1/events');
    expect(streamRequests.map((r) => r.headers['last-event-id'])).toEqual(['0', String(seen[2]?.seq)]);
    expect(statuses).toContain('reconnecting');
  });

  it('skips events it cannot read instead of failing the stream', async () => {
    daemon.runs.set('r1', { run: runOut('r1'), tasks: [] });
    daemon.events.push(
      { ...ev.created('r1', 1) },
      { type: 'task.new_kind', seq: 1000, at: 0, run_id: 'r1' } as unknown as DaemonEvent,
      { ...ev.task('r1', 't1', 'running'), state: 'exploded' } as unknown as DaemonEvent,
    );
    daemon.events.push(ev.finished('r1', 'succeeded', { succeeded: 1 }));
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const event of api.events({ runId: 'r1', after: 0, signal: abort.signal })) {
      seen.push(event.type);
      if (event.type === 'run.finished') {
        abort.abort();
      }
    }
    expect(seen).toEqual(['run.created', 'run.finished']);
  });

  it('joins a base URL and a path with exactly one slash', () => {
    expect(joinUrl('http://127.0.0.1:8787/', '/v1/runs')).toBe('http://127.0.0.1:8787/v1/runs');
    expect(joinUrl('http://127.0.0.1:8787', '/v1/runs')).toBe('http://127.0.0.1:8787/v1/runs');
  });
});
