import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from 'vscode';
import { describeParams, parseParams, registerCommands, type Services } from '../../src/common/commands';
import { DiffDocuments } from '../../src/common/diffs/openDiff';
import type { Connector } from '../../src/common/connector';
import { RunPanels } from '../../src/common/panel/panel';
import { RunsController } from '../../src/common/runs/controller';
import { silentLogger } from '../../src/common/util/logger';
import { runOut, taskOut } from '../helpers/builders';
import { FakeApi } from '../helpers/fakeApi';
import { until } from '../helpers/server';
import { env, fake, Uri as FakeUri } from '../fakes/vscode';

class FakeConnector implements Connector {
  constructor(private readonly api: FakeApi | undefined) {}
  forgotten = 0;
  start = () => Promise.resolve(this.api);
  connect = () => Promise.resolve(this.api);
  forget = (): Promise<void> => {
    this.forgotten++;
    return Promise.resolve();
  };
  dispose = () => undefined;
}

async function setUp(api: FakeApi | undefined, isWeb = false): Promise<{ services: Services; run: (id: string, ...args: unknown[]) => Promise<unknown> }> {
  fake.reset();
  const controller = new RunsController(silentLogger, { batchMs: 1 });
  if (api !== undefined) {
    controller.connect(api);
  }
  const panels = new RunPanels(
    vscode.Uri.file('/ext'),
    { cancel: () => Promise.resolve(), retry: () => Promise.resolve(), showTask: () => Promise.resolve(), openDashboard: () => Promise.resolve() },
    silentLogger,
  );
  const services: Services = { controller, panels, connector: new FakeConnector(api), log: silentLogger, isWeb, diffs: new DiffDocuments() };
  registerCommands(services);
  return { services, run: async (id, ...args) => vscode.commands.executeCommand(id, ...args) };
}

/** Answers every quick pick with its first item; the array returned holds the items last offered. */
function choosingTheFirst(): unknown[] {
  const offered: unknown[] = [];
  fake.quickPickChoice = (items) => {
    offered.splice(0, offered.length, ...items);
    return items[0];
  };
  return offered;
}

describe('commands', () => {
  let api: FakeApi;
  beforeEach(() => {
    api = new FakeApi();
  });

  it('Review Workspace starts code_review over the workspace with the engine and parallelism settings', async () => {
    const { run } = await setUp(api);
    fake.settings.set('parallelai.engine', 'claude-code');
    fake.settings.set('parallelai.maxParallel', 3);
    fake.workspaceFolders = [{ uri: FakeUri.file('/work/app'), name: 'app', index: 0 }];
    await run('parallelai.reviewWorkspace');
    expect(api.started).toEqual([{ template: 'code_review', params: {}, engine: 'claude-code', parallel: 3, workdir: '/work/app' }]);
    expect(fake.panels).toHaveLength(1);
  });

  it('Review Workspace from the explorer reviews that folder only', async () => {
    const { run } = await setUp(api);
    fake.workspaceFolders = [{ uri: FakeUri.file('/work/app'), name: 'app', index: 0 }];
    await run('parallelai.reviewWorkspace', vscode.Uri.file('/work/app/src/server'));
    expect(api.started[0]).toEqual({ template: 'code_review', params: { path: 'src/server' }, parallel: 8, workdir: '/work/app' });
  });

  it('Review Workspace in a virtual workspace leaves the workdir to the daemon, unless the setting names one', async () => {
    const { run } = await setUp(api);
    fake.workspaceFolders = [{ uri: FakeUri.parse('vscode-test-web://mount/'), name: 'mount', index: 0 }];
    await run('parallelai.reviewWorkspace');
    expect(api.started[0]).not.toHaveProperty('workdir');
    fake.settings.set('parallelai.workdir', '/srv/checkout');
    await run('parallelai.reviewWorkspace');
    expect(api.started[1]?.workdir).toBe('/srv/checkout');
  });

  it('Review Workspace without a folder says to open one', async () => {
    const { run } = await setUp(api);
    await run('parallelai.reviewWorkspace');
    expect(api.started).toEqual([]);
    expect(fake.messages).toEqual([{ level: 'warning', text: 'Open a folder to review first.' }]);
  });

  it('Run Template picks a template, takes its parameters as JSON and starts it', async () => {
    const { run } = await setUp(api);
    fake.quickPickChoice = (items) => items[0];
    fake.inputBoxAnswers.push('{"path": "src"}');
    await run('parallelai.runTemplate');
    expect(api.started).toEqual([{ template: 'code_review', params: { path: 'src' }, parallel: 8 }]);
  });

  it('Run Template does nothing when the pick is dismissed', async () => {
    const { run } = await setUp(api);
    fake.quickPickChoice = () => undefined;
    await run('parallelai.runTemplate');
    expect(api.started).toEqual([]);
  });

  it('Cancel Run offers the runs going and cancels the one chosen', async () => {
    api.runs.set('r1', { run: runOut('r1', { name: 'going' }), tasks: [] });
    api.runs.set('r2', { run: runOut('r2', { state: 'succeeded', active: false }), tasks: [] });
    const { run } = await setUp(api);
    const offered = choosingTheFirst();
    await run('parallelai.cancelRun');
    expect(offered.map((item) => (item as { runId: string }).runId)).toEqual(['r1']);
    expect(api.cancelled).toEqual(['r1']);
    expect(fake.messages.at(-1)).toEqual({ level: 'info', text: 'ParallelAI: run going is cancelled.' });
  });

  it('Cancel Run from a Runs view row cancels that run without asking', async () => {
    api.runs.set('r1', { run: runOut('r1'), tasks: [] });
    const { run } = await setUp(api);
    await run('parallelai.cancelRun', { kind: 'run', runId: 'r1' });
    expect(api.cancelled).toEqual(['r1']);
  });

  it('Retry Failed Tasks offers only finished runs with failed, cancelled or skipped tasks, retries the one chosen and shows it', async () => {
    api.runs.set('r1', { run: runOut('r1', { name: 'going' }), tasks: [taskOut('t1', 'failed')] });
    api.runs.set('r2', { run: runOut('r2', { name: 'fine', state: 'succeeded', active: false, counts: { succeeded: 3 } }), tasks: [] });
    api.runs.set('r3', {
      run: runOut('r3', { name: 'broken', state: 'failed', active: false, counts: { succeeded: 1, failed: 1, skipped: 1 } }),
      tasks: [taskOut('a', 'succeeded'), taskOut('b', 'failed'), taskOut('c', 'skipped')],
    });
    const { services, run } = await setUp(api);
    const offered = choosingTheFirst();
    await run('parallelai.retryRun');
    expect(offered.map((item) => (item as { runId: string }).runId)).toEqual(['r3']);
    expect((offered[0] as { description: string }).description).toContain('2 to retry');
    expect(api.retried).toEqual([{ runId: 'r3', tasks: [] }]);
    expect(fake.messages.at(-1)).toEqual({ level: 'info', text: 'ParallelAI: retrying 2 tasks of run broken.' });
    expect(fake.panels).toHaveLength(1); // it follows the run again
    expect(services.controller.model.get('r3')?.executed_by).toBe(null); // the events say it started; a snapshot then says who runs it
  });

  it('Retry Failed Tasks from a Runs view row retries that run without asking, and says when there is nothing to retry', async () => {
    api.runs.set('r1', { run: runOut('r1', { name: 'fine', state: 'succeeded', active: false }), tasks: [taskOut('t1', 'succeeded')] });
    const { run } = await setUp(api);
    await run('parallelai.retryRun', { kind: 'run', runId: 'r1' });
    expect(api.retried).toEqual([{ runId: 'r1', tasks: [] }]);
    expect(fake.messages.at(-1)).toEqual({ level: 'info', text: 'ParallelAI: run fine has nothing to retry.' });
    expect(fake.panels).toHaveLength(0);
  });

  it('Retry Failed Tasks says so when no finished run has failures', async () => {
    api.runs.set('r1', { run: runOut('r1'), tasks: [] });
    const { run } = await setUp(api);
    await run('parallelai.retryRun');
    expect(api.retried).toEqual([]);
    expect(fake.messages).toEqual([{ level: 'info', text: 'ParallelAI: no finished run has failed, cancelled or skipped tasks.' }]);
  });

  it('Open Dashboard opens the one-time link, never a URL with the token', async () => {
    const { run } = await setUp(api);
    env.opened.length = 0;
    await run('parallelai.openDashboard');
    expect(env.opened.map(String)).toEqual(['http://127.0.0.1:8787/login?code=abc']);
  });

  it('Show Runs focuses the view and opens the run chosen', async () => {
    api.runs.set('r1', { run: runOut('r1'), tasks: [] });
    const { services, run } = await setUp(api);
    await until(() => services.controller.model.list().length === 1);
    fake.quickPickChoice = (items) => items[0];
    await run('parallelai.showRuns');
    expect(fake.executed.map((e) => e.command)).toContain('parallelai.runs.focus');
    expect(fake.panels).toHaveLength(1);
  });

  it('says how to connect when there is no daemon yet (web)', async () => {
    const { run } = await setUp(undefined, true);
    await run('parallelai.runTemplate');
    expect(fake.messages).toEqual([{ level: 'warning', text: 'ParallelAI is not connected to a daemon.' }]);
  });

  it('describes template parameters with their defaults', () => {
    expect(
      describeParams({
        name: 'code_review',
        params: ['path', 'files', 'focus'],
        parameters: [
          { name: 'path', default: '.' },
          { name: 'files', default: ['**/*.py'] },
          { name: 'focus', required: true },
        ],
      }),
    ).toBe('path = ".", files = ["**/*.py"], focus (required)');
    expect(describeParams({ name: 'old', params: ['a', 'b'] })).toBe('a, b');
  });

  it('reads template parameters: empty is the defaults, anything but an object is refused', () => {
    expect(parseParams('')).toEqual({});
    expect(parseParams('{"path": "src", "max_findings": 3}')).toEqual({ path: 'src', max_findings: 3 });
    expect(parseParams('[1]')).toBe('Give a JSON object, e.g. {"path": "src"}');
    expect(parseParams('{oops')).toMatch(/^Not JSON: /);
  });
});
