import { describe, expect, it } from 'vitest';
import { RunsController } from '../../src/common/runs/controller';
import { countsOf } from '../../src/common/runs/runView';
import { silentLogger } from '../../src/common/util/logger';
import { ev, runOut, taskOut } from '../helpers/builders';
import { FakeApi } from '../helpers/fakeApi';
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
