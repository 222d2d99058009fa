import { describe, expect, it } from 'vitest';
import { HttpDaemonApi } from '../../src/common/daemon/httpApi';
import { RunsController } from '../../src/common/runs/controller';
import { countsOf } from '../../src/common/runs/runView';
import { silentLogger } from '../../src/common/util/logger';
import { ev, runOut, taskOut } from '../helpers/builders';
import { FakeApi } from '../helpers/fakeApi';
import { startFakeDaemon } from '../helpers/fakeDaemon';
import { until } from '../helpers/server';

describe('RunsController', () => {
  it('reads the run list when the stream goes live, with the tables of the runs still going', async () => {
    const api = new FakeApi();
    api.runs.set('r1', { run: runOut('r1'), tasks: [taskOut('t1', 'running')] });
    api.runs.set('r2', { run: runOut('r2', { state: 'succeeded', active: false }), tasks: [] });
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    controller.connect(api);
    await until(() => controller.model.get('r1')?.complete === true);
    expect(controller.status).toBe('live');
    expect(controller.model.list().map((r) => r.id).sort()).toEqual(['r1', 'r2']);
    expect(api.calls).toContain('getRun r1');
    expect(api.calls).not.toContain('getRun r2');
    controller.dispose();
  });

  it('reads again only the tasks of a running run that changed since its table was read', async () => {
    const daemon = await startFakeDaemon();
    try {
      const api = new HttpDaemonApi(() => Promise.resolve({ url: daemon.url, token: daemon.token }), { retryMs: 5 });
      daemon.runs.set('r1', { run: runOut('r1', { total: 2 }), tasks: [taskOut('t1', 'running'), taskOut('t2', 'pending')], cursor: 2, changed: { t1: 2, t2: 1 } });
      const controller = new RunsController(silentLogger, { batchMs: 1 });
      controller.connect(api);
      await until(() => controller.model.get('r1')?.complete === true);
      // Away for a while (a dropped stream): t2 started meanwhile, and the list is read again on return.
      daemon.runs.set('r1', { run: runOut('r1', { total: 2 }), tasks: [taskOut('t1', 'running'), taskOut('t2', 'running')], cursor: 5, changed: { t1: 2, t2: 5 } });
      daemon.dropStreams();
      await until(() => controller.model.get('r1')?.tasks.t2?.state === 'running');
      const reads = daemon.requests.map((r) => r.url).filter((url) => url.startsWith('/v1/runs/r1/tasks'));
      expect(reads).toEqual(['/v1/runs/r1/tasks', '/v1/runs/r1/tasks?changed_after=2']);
      expect(controller.model.get('r1')!.order).toEqual(['t1', 't2']);
      expect(countsOf(controller.model.get('r1')!)).toMatchObject({ running: 2 });
      controller.dispose();
    } finally {
      await daemon.close();
    }
  });

  it('hands out its API once connected: at once when it is, else at the next connect', async () => {
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    const waiting = controller.whenConnected();
    let handed: unknown;
    void waiting.then((api) => (handed = api));
    await Promise.resolve();
    expect(handed).toBeUndefined();
    const api = new FakeApi();
    controller.connect(api);
    expect(await waiting).toBe(api);
    expect(await controller.whenConnected()).toBe(api);
    controller.dispose();
  });

  it('applies the event stream in batches and reads a run it cannot place', async () => {
    const api = new FakeApi();
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    controller.connect(api);
    await until(() => api.streams.length === 1 && api.calls.includes('listRuns'));
    api.publish(ev.created('r5', 2, 'fresh'));
    api.publish(ev.task('r5', 't1', 'running'));
    await until(() => controller.model.get('r5') !== undefined);
    expect(countsOf(controller.model.get('r5')!)).toMatchObject({ running: 1, pending: 1 });

    // A run created before we connected: its events alone cannot place it, so it is read.
    api.runs.set('r3', { run: runOut('r3', { total: 1 }), tasks: [taskOut('t1', 'succeeded')] });
    api.publish(ev.task('r3', 't1', 'succeeded'));
    await until(() => controller.model.get('r3') !== undefined);
    expect(api.calls).toContain('getRun r3');
    controller.dispose();
  });

  it('forgets everything on disconnect', async () => {
    const api = new FakeApi();
    api.runs.set('r1', { run: runOut('r1'), tasks: [] });
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    controller.connect(api);
    await until(() => controller.model.list().length === 1);
    controller.disconnect();
    expect(controller.model.list()).toEqual([]);
    expect(controller.status).toBe('disconnected');
    expect(controller.api).toBeUndefined();
    expect(api.streams[0]?.options.signal.aborted).toBe(true);
  });
});
