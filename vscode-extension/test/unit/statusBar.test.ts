import { beforeEach, describe, expect, it } from 'vitest';
import { RunsController } from '../../src/common/runs/controller';
import { applyEvents, mergeSnapshot } from '../../src/common/runs/runView';
import { StatusBar, statusBarText } from '../../src/common/statusBar';
import { silentLogger } from '../../src/common/util/logger';
import { ev, runOut, taskOut, usage } from '../helpers/builders';
import { FakeApi } from '../helpers/fakeApi';
import { until } from '../helpers/server';
import { fake } from '../fakes/vscode';

describe('status-bar text', () => {
  const going = mergeSnapshot(undefined, runOut('r1', { name: 'review', total: 4, usage: usage(0.125) }), [
    taskOut('t1', 'running'),
    taskOut('t2', 'running'),
    taskOut('t3', 'succeeded'),
    taskOut('t4', 'pending'),
  ]);
  const other = applyEvents(undefined, [ev.created('r2', 2), ev.task('r2', 'a', 'running'), ev.usage('r2', 'a', usage(0.005))])!;
  const done = mergeSnapshot(undefined, runOut('r3', { state: 'succeeded', active: false, usage: usage(9) }));

  it('counts running tasks and adds up the cost of the runs going', () => {
    const text = statusBarText('live', [going, other, done], false);
    expect(text.text).toBe('$(sync~spin) 3 running · $0.13');
    expect(text.tooltip).toBe('2 runs going\nreview: 2 running, 1 queued, $0.13\nr2: 1 running, 1 queued, $0.005');
    expect(text.command).toBe('parallelai.showRuns');
  });

  it('never counts a task waiting to retry as running, and says who executes each run', () => {
    const waiting = mergeSnapshot(undefined, runOut('r5', { name: 'flaky', total: 3, executed_by: 'the daemon (pid 812)' }), [
      taskOut('t1', 'running'),
      taskOut('t2', 'retrying'),
      taskOut('t3', 'pending'),
    ]);
    const text = statusBarText('live', [waiting], false);
    expect(text.text).toBe('$(sync~spin) 1 running · $0.00');
    expect(text.tooltip).toBe('1 run going\nflaky (the daemon (pid 812)): 1 running, 1 waiting to retry, 1 queued, $0.00');
  });

  it('shows queued tasks when none is running yet', () => {
    const queued = applyEvents(undefined, [ev.created('r4', 5)])!;
    expect(statusBarText('live', [queued], false).text).toBe('$(sync~spin) 5 queued · $0.00');
  });

  it('is quiet when no run is going', () => {
    expect(statusBarText('live', [done], false).text).toBe('$(pulse) ParallelAI');
  });

  it('offers to connect in the web build and warns about a refused token', () => {
    expect(statusBarText('disconnected', [], true)).toMatchObject({ command: 'parallelai.connect', text: '$(debug-disconnect) ParallelAI' });
    expect(statusBarText('disconnected', [], false).text).toBe('$(loading~spin) ParallelAI');
    expect(statusBarText('unauthorized', [], true)).toMatchObject({ command: 'parallelai.connect', warning: true });
    expect(statusBarText('reconnecting', [going], false).tooltip).toBe("The daemon's event stream is reconnecting");
    expect(statusBarText('failed', [], false)).toMatchObject({ text: '$(error) ParallelAI', command: 'parallelai.showOutput', warning: true });
  });
});

describe('StatusBar', () => {
  beforeEach(() => fake.reset());

  it('follows the model and the connection', async () => {
    const api = new FakeApi();
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    const bar = new StatusBar(controller, true, 1);
    const item = fake.statusBarItems[0]!;
    expect(item.visible).toBe(true);
    expect(item.command).toBe('parallelai.connect');
    controller.connect(api);
    await until(() => item.text === '$(pulse) ParallelAI');
    api.publish(ev.created('r1', 2));
    api.publish(ev.task('r1', 't1', 'running'));
    await until(() => item.text === '$(sync~spin) 1 running · $0.00');
    bar.dispose();
    expect(item.disposed).toBe(true);
    controller.dispose();
  });
});
