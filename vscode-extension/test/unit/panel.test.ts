import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as vscode from 'vscode';
import { HttpDaemonApi } from '../../src/common/daemon/httpApi';
import { parseHostMessage, restoredRunId } from '../../src/common/panel/messages';
import { RunPanels, type PanelActions } from '../../src/common/panel/panel';
import { panelView } from '../../src/common/panel/state';
import { silentLogger } from '../../src/common/util/logger';
import { ev, runOut, taskOut } from '../helpers/builders';
import { startFakeDaemon, type FakeDaemon } from '../helpers/fakeDaemon';
import { until } from '../helpers/server';
import { fake, FakeWebviewPanel } from '../fakes/vscode';

describe('the run panel (extension host side)', () => {
  let daemon: FakeDaemon;
  let api: HttpDaemonApi;
  const asked: string[] = [];
  const actions: PanelActions = {
    cancel: (runId) => Promise.resolve(void asked.push(`cancel ${runId}`)),
    retry: (runId) => Promise.resolve(void asked.push(`retry ${runId}`)),
    showTask: (runId, taskId) => Promise.resolve(void asked.push(`showTask ${runId} ${taskId}`)),
    openDashboard: () => Promise.resolve(void asked.push('openDashboard')),
  };

  beforeEach(async () => {
    fake.reset();
    asked.length = 0;
    daemon = await startFakeDaemon('the-secret-token');
    api = new HttpDaemonApi(() => Promise.resolve({ url: daemon.url, token: daemon.token }), { retryMs: 5 });
    daemon.runs.set('r1', { run: runOut('r1', { name: 'review', total: 2 }), tasks: [taskOut('t1', 'running'), taskOut('t2', 'pending')] });
    daemon.events.push(ev.created('r1', 2, 'review'), ev.started('r1'), ev.task('r1', 't1', 'running'));
  });
  afterEach(() => daemon.close());

  it('opens a locked-down webview and posts the run once the script is ready, then its events', async () => {
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    const panel = fake.panels[0]!;
    expect(panel.viewType).toBe('parallelai.run');
    expect(panel.webview.options).toMatchObject({ enableScripts: true, localResourceRoots: [{ path: '/ext/dist/webview' }, { path: '/ext/media' }] });
    expect(panel.webview.html).toContain("default-src 'none'");
    expect(panel.webview.html).toContain('https://fake.vscode-cdn.net/ext/dist/webview/panel.js');
    await until(() => panel.title === 'review · r1' && daemon.streams() === 1);
    expect(panel.webview.posted).toEqual([]); // nothing until the script says it listens

    panel.webview.send({ type: 'ready' });
    await until(() => panel.webview.posted.length > 0);
    const first = parseHostMessage(panel.webview.posted[0]);
    expect(first?.type).toBe('snapshot');

    daemon.publish(ev.task('r1', 't1', 'succeeded'));
    daemon.publish(ev.task('r1', 't2', 'succeeded'));
    daemon.publish(ev.finished('r1', 'succeeded', { succeeded: 2 }));
    await until(() => panels.get('r1')?.current.run?.state === 'succeeded');
    await until(() => panel.webview.posted.some((m) => parseHostMessage(m)?.type === 'events' && JSON.stringify(m).includes('run.finished')));
    expect(panelView(panels.get('r1')!.current.run!).counts.succeeded).toBe(2);
    for (const message of panel.webview.posted) {
      expect(parseHostMessage(message), JSON.stringify(message)).toBeDefined();
    }
    panels.dispose();
    expect(panel.disposed).toBe(true);
  });

  it('reads the task table once the run ends, for the durations and costs events do not carry', async () => {
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    await until(() => daemon.streams() === 1);
    daemon.runs.set('r1', {
      run: runOut('r1', { name: 'review', total: 2, state: 'succeeded', active: false, finished_at: 1_800_000_070 }),
      tasks: [taskOut('t1', 'succeeded', { duration_s: 65, cost_usd: 0.01 }), taskOut('t2', 'succeeded', { duration_s: 4.2, cost_usd: 0.02 })],
    });
    daemon.publish(ev.task('r1', 't1', 'succeeded'));
    daemon.publish(ev.task('r1', 't2', 'succeeded'));
    daemon.publish(ev.finished('r1', 'succeeded', { succeeded: 2 }));
    const tasks = () => panelView(panels.get('r1')!.current.run!).tasks;
    await until(() => tasks().every((task) => task.duration_s !== null));
    expect(tasks().map((task) => [task.duration_s, task.usage.cost_usd])).toEqual([[65, 0.01], [4.2, 0.02]]);
    panels.dispose();
  });

  it('reads only the tasks changed since its first read once the run ends, keeping the table order', async () => {
    const before = [taskOut('t1', 'succeeded', { duration_s: 65, cost_usd: 0.01 }), taskOut('t2', 'running')];
    daemon.runs.set('r1', { run: runOut('r1', { name: 'review', total: 2 }), tasks: before, cursor: 4, changed: { t1: 3, t2: 4 } });
    daemon.events.push(ev.task('r1', 't1', 'succeeded'), ev.task('r1', 't2', 'running'));
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    await until(() => daemon.streams() === 1);
    daemon.runs.set('r1', {
      run: runOut('r1', { name: 'review', total: 2, state: 'succeeded', active: false, finished_at: 1_800_000_070 }),
      tasks: [taskOut('t1', 'succeeded', { duration_s: 65, cost_usd: 0.01 }), taskOut('t2', 'succeeded', { duration_s: 4.2, cost_usd: 0.02 })],
      cursor: 7,
      changed: { t1: 3, t2: 7 }, // t1 finished before the panel's first read, t2 since
    });
    daemon.publish(ev.task('r1', 't2', 'succeeded'));
    daemon.publish(ev.finished('r1', 'succeeded', { succeeded: 2 }));
    const tasks = () => panelView(panels.get('r1')!.current.run!).tasks;
    await until(() => tasks().every((task) => task.duration_s !== null));
    const reads = daemon.requests.map((r) => r.url).filter((url) => url.startsWith('/v1/runs/r1/tasks'));
    expect(reads).toEqual(['/v1/runs/r1/tasks', '/v1/runs/r1/tasks?changed_after=4']);
    expect(tasks().map((task) => [task.id, task.state, task.duration_s])).toEqual([['t1', 'succeeded', 65], ['t2', 'succeeded', 4.2]]);
    panels.dispose();
  });

  it('never lets the token into the webview', async () => {
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    const panel = fake.panels[0]!;
    panel.webview.send({ type: 'ready' });
    daemon.publish(ev.task('r1', 't1', 'succeeded'));
    await until(() => panel.webview.posted.some((m) => JSON.stringify(m).includes('"succeeded"')));
    expect(panel.webview.html).not.toContain(daemon.token);
    expect(JSON.stringify(panel.webview.posted)).not.toContain(daemon.token);
    panels.dispose();
  });

  it('sends everything again when the webview reloads', async () => {
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    const panel = fake.panels[0]!;
    panel.webview.send({ type: 'ready' });
    await until(() => panel.webview.posted.length > 0);
    panel.webview.posted.length = 0;
    panel.webview.send({ type: 'ready' });
    await until(() => panel.webview.posted.length > 0);
    expect(parseHostMessage(panel.webview.posted[0])?.type).toBe('snapshot');
    panels.dispose();
  });

  it('does what the webview asks by name, and ignores anything malformed', async () => {
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    const panel = fake.panels[0]!;
    panel.webview.send({ type: 'cancel' });
    panel.webview.send({ type: 'showTask', taskId: 't2' });
    panel.webview.send({ type: 'openDashboard' });
    panel.webview.send({ type: 'retry' });
    panel.webview.send({ type: 'cancel', runId: 'r2' });
    panel.webview.send({ type: 'eval', code: 'alert(1)' });
    await until(() => asked.length === 4);
    expect(asked).toEqual(['cancel r1', 'showTask r1 t2', 'openDashboard', 'retry r1']);
    panels.dispose();
  });

  it('follows a retried run on the same stream, and reads again who executes it once it starts again', async () => {
    daemon.runs.set('r2', {
      run: runOut('r2', { state: 'failed', active: false, total: 2, counts: { succeeded: 1, failed: 1 } }),
      tasks: [taskOut('a', 'succeeded'), taskOut('b', 'failed', { reason: 'execution: exit 1' })],
    });
    daemon.events.push(ev.created('r2', 2), ev.started('r2'), ev.task('r2', 'a', 'succeeded'), ev.task('r2', 'b', 'failed', { reason: 'execution: exit 1' }), ev.finished('r2', 'failed', { succeeded: 1, failed: 1 }));
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r2');
    const shown = (): ReturnType<typeof panelView> | undefined => {
      const run = panels.get('r2')?.current.run;
      return run === undefined ? undefined : panelView(run);
    };
    await until(() => shown()?.state === 'failed' && daemon.streams() === 1);
    expect(shown()).toMatchObject({ retryable: 1, executedBy: null });

    await api.retryRun('r2'); // the daemon now says who executes it
    daemon.publish(ev.started('r2', 1));
    daemon.publish(ev.task('r2', 'b', 'pending'));
    await until(() => shown()?.executedBy === 'the daemon (pid 1)');
    expect(shown()).toMatchObject({ state: 'running', active: true, retryable: 0 });
    expect(shown()?.counts).toMatchObject({ pending: 1, failed: 0, succeeded: 1 });

    daemon.publish(ev.task('r2', 'b', 'running', { attempt: 2 }));
    daemon.publish(ev.task('r2', 'b', 'succeeded'));
    daemon.publish(ev.finished('r2', 'succeeded', { succeeded: 2 }));
    await until(() => shown()?.state === 'succeeded');
    expect(shown()).toMatchObject({ finished: 2, retryable: 0, executedBy: null, failures: [] });
    panels.dispose();
  });

  it('shows the same panel again for the same run, and says when the run cannot be read', async () => {
    const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
    panels.show(api, 'r1');
    panels.show(api, 'r1');
    expect(fake.panels).toHaveLength(1);
    expect(fake.panels[0]!.revealed).toBe(1);
    panels.show(api, 'missing');
    const missing = fake.panels[1]!;
    missing.webview.send({ type: 'ready' });
    await until(() => panels.get('missing')?.current.error !== undefined);
    expect(panels.get('missing')?.current.error).toBe('Could not read run missing: no run missing');
    missing.dispose();
    expect(panels.get('missing')).toBeUndefined();
    panels.dispose();
  });

  describe('after a reload of the window', () => {
    /** A panel as VS Code hands it to the serializer: the type, the last title, no html yet. */
    const leftOpen = (): FakeWebviewPanel => new FakeWebviewPanel('parallelai.run', 'review · r1', undefined, {});

    it('brings back the panel of the run its webview kept, locked down as a new one', async () => {
      const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
      const restored = leftOpen();
      await panels.serializer({ api, whenConnected: () => Promise.resolve(api) }).deserializeWebviewPanel(restored as unknown as vscode.WebviewPanel, { runId: 'r1' });
      expect(restored.webview.options).toMatchObject({ enableScripts: true, localResourceRoots: [{ path: '/ext/dist/webview' }, { path: '/ext/media' }] });
      expect(restored.webview.html).toContain("default-src 'none'");
      restored.webview.send({ type: 'ready' });
      await until(() => restored.title === 'review · r1' && restored.webview.posted.some((m) => parseHostMessage(m)?.type === 'snapshot'));
      expect(panels.get('r1')?.current.run?.id).toBe('r1');
      panels.show(api, 'r1'); // the restored panel is the run's panel now
      expect(fake.panels).toHaveLength(0);
      expect(restored.revealed).toBe(1);
      panels.dispose();
      expect(restored.disposed).toBe(true);
    });

    it('waits for a connection before it reads the run', async () => {
      const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
      let connect: (value: HttpDaemonApi) => void = () => undefined;
      const connected = new Promise<HttpDaemonApi>((resolve) => (connect = resolve));
      const restored = leftOpen();
      await panels.serializer({ api: undefined, whenConnected: () => connected }).deserializeWebviewPanel(restored as unknown as vscode.WebviewPanel, { runId: 'r1' });
      restored.webview.send({ type: 'ready' });
      expect(restored.webview.html).toContain('panel.js');
      await until(() => restored.webview.posted.length > 0);
      expect(restored.webview.posted.map((m) => parseHostMessage(m))).toEqual([{ type: 'connection', status: 'disconnected' }]);
      expect(daemon.streams()).toBe(0);
      expect(panels.get('r1')?.current.run).toBeUndefined();
      connect(api);
      await until(() => panels.get('r1')?.current.run?.state === 'running' && daemon.streams() === 1);
      expect(panels.get('r1')?.current.connection).not.toBe('disconnected');
      panels.dispose();
    });

    it('closes a panel whose state is not a run of ours, or whose run is open already', async () => {
      const panels = new RunPanels(vscode.Uri.file('/ext'), actions, silentLogger);
      const serializer = panels.serializer({ api, whenConnected: () => Promise.resolve(api) });
      const stranger = leftOpen();
      await serializer.deserializeWebviewPanel(stranger as unknown as vscode.WebviewPanel, undefined);
      expect(stranger.disposed).toBe(true);
      panels.show(api, 'r1');
      const twin = leftOpen();
      await serializer.deserializeWebviewPanel(twin as unknown as vscode.WebviewPanel, { runId: 'r1' });
      expect(twin.disposed).toBe(true);
      expect(panels.get('r1')).toBeDefined();
      panels.dispose();
    });

    it('reads a run id only from a state of the shape the webview writes', () => {
      expect(restoredRunId({ runId: 'r1' })).toBe('r1');
      for (const state of [undefined, null, 'r1', {}, { runId: '' }, { runId: 7 }]) {
        expect(restoredRunId(state)).toBeUndefined();
      }
    });
  });
});
