import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from 'vscode';
import { RunsController } from '../../src/common/runs/controller';
import { applyEvents, clockTime, mergeSnapshot } from '../../src/common/runs/runView';
import { RunsTreeProvider, runTreeItem, taskStateIcon, taskTreeItem, type RunsNode } from '../../src/common/runsTree';
import { TASK_STATES, type RunChanges, type TaskChangeOut } from '../../src/common/daemon/types';
import { silentLogger } from '../../src/common/util/logger';
import { ev, runOut, taskOut, usage } from '../helpers/builders';
import { FakeApi } from '../helpers/fakeApi';
import { until } from '../helpers/server';
import { fake, type ThemeColor as FakeThemeColor } from '../fakes/vscode';

describe('Runs view items', () => {
  beforeEach(() => fake.reset());

  it('shows a run with its state icon, progress and cost, and a cancel action while it is going', () => {
    const run = mergeSnapshot(undefined, runOut('r1', { name: 'review', total: 4, usage: usage(0.25) }), [
      taskOut('t1', 'succeeded'),
      taskOut('t2', 'failed', { error: 'boom' }),
      taskOut('t3', 'running'),
      taskOut('t4', 'pending'),
    ]);
    const item = runTreeItem(run);
    expect(item.label).toBe('review');
    expect(item.description).toBe('running · 1/4 · 1 failed · $0.25');
    expect((item.iconPath as vscode.ThemeIcon).id).toBe('sync~spin');
    expect(item.contextValue).toBe('run.active');
    expect(item.collapsibleState).toBe(vscode.TreeItemCollapsibleState.Collapsed);
    expect(item.command).toMatchObject({ command: 'parallelai.openRun', arguments: ['r1'] });
    const finished = runTreeItem({ ...run, state: 'succeeded' });
    expect(finished.contextValue).toBe('run.retryable'); // finished, with a failed task to run again
    expect(runTreeItem({ ...run, state: 'succeeded', tasks: { ...run.tasks, t2: { ...run.tasks.t2!, state: 'succeeded' } } }).contextValue).toBe('run.finished');
    expect(((finished.iconPath as vscode.ThemeIcon).color as FakeThemeColor | undefined)?.id).toBe('testing.iconPassed');
  });

  it('gives every task state its own icon', () => {
    const icons = TASK_STATES.map((state) => taskStateIcon(state).id);
    expect(new Set(icons).size).toBe(TASK_STATES.length);
    expect(taskStateIcon('failed')).toEqual({ id: 'error', color: 'testing.iconFailed' });
    expect(taskStateIcon('running').id).toBe('sync~spin');
  });

  it('offers Retry Failed Tasks on a finished run with failures, and says who executes a run', () => {
    const failed = mergeSnapshot(undefined, runOut('r1', { name: 'review', state: 'failed', active: false, total: 3 }), [
      taskOut('t1', 'succeeded'),
      taskOut('t2', 'failed'),
      taskOut('t3', 'skipped'),
    ]);
    const item = runTreeItem(failed);
    expect(item.contextValue).toBe('run.retryable');
    expect(item.description).toBe('failed · 1/3 · 1 failed · 1 skipped · $0.00');
    const going = mergeSnapshot(undefined, runOut('r2', { executed_by: 'pid 4242 (parallelai run)', total: 2 }), [taskOut('a', 'running'), taskOut('b', 'retrying')]);
    expect(runTreeItem(going).contextValue).toBe('run.active');
    expect(runTreeItem(going).description).toBe('running · 0/2 · 1 retrying · $0.00');
    expect((runTreeItem(going).tooltip as vscode.MarkdownString).value).toContain('executed by pid 4242 \\(parallelai run\\)');
    const interrupted = mergeSnapshot(undefined, runOut('r3', { state: 'interrupted', active: false, total: 2 }), [taskOut('a', 'interrupted'), taskOut('b', 'failed')]);
    expect(runTreeItem(interrupted).contextValue).toBe('run.finished'); // resumed, not retried
    expect(runTreeItem(interrupted).description).toBe('interrupted · 0/2 · 1 interrupted · 1 failed · $0.00');
  });

  it('shows a task waiting to retry with when it runs again, and an interrupted one with why', () => {
    const retryAt = 1_800_000_060;
    const run = applyEvents(undefined, [
      ev.created('r1', 2),
      ev.task('r1', 't1', 'running'),
      ev.task('r1', 't1', 'retrying', { attempt: 1, reason: 'attempt 1 failed (transient: boom); retrying in 60.0s', retryAt }),
      ev.task('r1', 't2', 'interrupted', { reason: 'its process stopped mid-attempt' }),
    ])!;
    const waiting = taskTreeItem('r1', run.tasks.t1!);
    expect(waiting.description).toBe(`retrying · again at ${clockTime(retryAt)}`);
    expect(waiting.tooltip).toBe('t1: retrying\nattempt 1 failed (transient: boom); retrying in 60.0s');
    expect((waiting.iconPath as vscode.ThemeIcon).id).toBe('history');
    const cut = taskTreeItem('r1', run.tasks.t2!);
    expect(cut.tooltip).toBe('t2: interrupted\nits process stopped mid-attempt');
    expect((cut.iconPath as vscode.ThemeIcon).id).toBe('debug-pause');
  });

  it('shows a task with its attempts and error, opening its detail on click', () => {
    const run = applyEvents(undefined, [ev.created('r1', 1), ev.task('r1', 't1', 'running', { attempt: 2 }), ev.task('r1', 't1', 'failed', { reason: 'exit 1' })])!;
    const item = taskTreeItem('r1', run.tasks.t1!);
    expect(item.description).toBe('failed · attempt 2');
    expect(item.tooltip).toBe('t1: failed\nexit 1');
    expect((item.iconPath as vscode.ThemeIcon).id).toBe('error');
    expect(item.command).toMatchObject({ command: 'parallelai.showTask', arguments: ['r1', 't1'] });
  });
});

describe('Runs view items of an isolated run', () => {
  beforeEach(() => fake.reset());

  const change: TaskChangeOut = {
    task_id: 't1',
    outcome: 'merged',
    commit: 'e804739872ce5d1a',
    insertions: 3,
    deletions: 1,
    files: [
      { path: 'a.txt', insertions: 1, deletions: 1, binary: false },
      { path: 'c.txt', insertions: 2, deletions: 0, binary: false },
      { path: 'logo.png', insertions: 0, deletions: 0, binary: true },
    ],
  };

  it('gives a task with a change its diffstat in the description and tooltip, and Open Diff', () => {
    const run = mergeSnapshot(undefined, runOut('r1', { state: 'succeeded', active: false, total: 1 }), [taskOut('t1', 'succeeded', { duration_s: 2 })]);
    const item = taskTreeItem('r1', run.tasks.t1!, change);
    expect(item.description).toBe('succeeded · 2.0s · +3 −1');
    expect(item.contextValue).toBe('task.succeeded.diff');
    const tooltip = (item.tooltip as vscode.MarkdownString).value;
    expect(tooltip).toContain('merged as `e804739872ce`: 3 files changed, +3 −1');
    expect(tooltip).toContain('| a\\.txt | +1 −1 |');
    expect(tooltip).toContain('| logo\\.png | binary |');
    expect(taskTreeItem('r1', run.tasks.t1!).contextValue).toBe('task.succeeded'); // no change, no Open Diff
  });

  it('names an outcome other than merged before the diffstat', () => {
    const run = mergeSnapshot(undefined, runOut('r1', { state: 'failed', active: false, total: 1 }), [taskOut('t1', 'failed', { error: 'changed files outside its scope' })]);
    const item = taskTreeItem('r1', run.tasks.t1!, { ...change, outcome: 'outside_scope', commit: null });
    expect(item.description).toBe('failed · out of scope +3 −1');
    expect((item.tooltip as vscode.MarkdownString).value).toContain('out of scope: 3 files changed');
  });
});

describe('RunsTreeProvider', () => {
  it('lists runs, reads a run to show its tasks, and redraws the runs events touch', async () => {
    const api = new FakeApi();
    api.runs.set('r1', { run: runOut('r1', { state: 'succeeded', active: false, total: 2 }), tasks: [taskOut('t1', 'succeeded'), taskOut('t2', 'succeeded')] });
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    const tree = new RunsTreeProvider(controller, 1);
    const fired: (RunsNode | RunsNode[] | undefined)[] = [];
    tree.onDidChangeTreeData((nodes) => fired.push(nodes));
    controller.connect(api);
    await until(() => fired.length > 0);

    const roots = await tree.getChildren();
    expect(roots).toEqual([{ kind: 'run', runId: 'r1' }]);
    const tasks = await tree.getChildren(roots[0]);
    expect(api.calls).toContain('getRun r1');
    expect(tasks.map((node) => (node.kind === 'task' ? node.taskId : ''))).toEqual(['t1', 't2']);
    expect(tree.getParent(tasks[0]!)).toBe(roots[0]);
    expect(tree.getTreeItem(tasks[0]!).label).toBe('t1');

    // Reading r1's table redraws r1's row.
    await until(() => fired.some((nodes) => Array.isArray(nodes) && nodes[0]?.runId === 'r1'));
    // A new run appears: the whole list redraws; then its task events redraw only its row.
    fired.length = 0;
    api.publish(ev.created('r2', 1, 'live one'));
    await until(() => fired.length === 1);
    expect(fired[0]).toBeUndefined();
    expect((await tree.getChildren()).map((node) => node.runId)).toEqual(['r2', 'r1']);
    fired.length = 0;
    api.publish(ev.task('r2', 't1', 'running'));
    await until(() => fired.length === 1);
    expect(fired[0]).toEqual([{ kind: 'run', runId: 'r2' }]);
    expect(tree.getTreeItem({ kind: 'run', runId: 'r2' }).description).toBe('running · 0/1 · $0.00');
    tree.dispose();
    controller.dispose();
  });

  it("reads an isolated run's changes for its task rows, again only once more tasks finished", async () => {
    const api = new FakeApi();
    api.runs.set('r1', { run: runOut('r1', { state: 'running', total: 2 }), tasks: [taskOut('t1', 'succeeded'), taskOut('t2', 'running')] });
    api.runs.set('r2', { run: runOut('r2', { state: 'succeeded', active: false, total: 1 }), tasks: [taskOut('p1', 'succeeded')] });
    const changes: RunChanges = {
      run_id: 'r1',
      branch: 'parallelai/r1',
      base: 'b'.repeat(40),
      tasks: [{ task_id: 't1', outcome: 'merged', commit: 'c'.repeat(40), insertions: 1, deletions: 0, files: [{ path: 'a.txt', insertions: 1, deletions: 0, binary: false }] }],
    };
    api.changes.set('r1', changes);
    const controller = new RunsController(silentLogger, { batchMs: 1 });
    const tree = new RunsTreeProvider(controller, 1);
    controller.connect(api);
    await until(() => controller.model.get('r1') !== undefined && controller.model.get('r2') !== undefined);

    const [t1, t2] = await tree.getChildren({ kind: 'run', runId: 'r1' });
    expect(tree.getTreeItem(t1!).contextValue).toBe('task.succeeded.diff');
    expect(tree.getTreeItem(t2!).contextValue).toBe('task.running');
    expect((tree.getTreeItem({ kind: 'run', runId: 'r1' }).tooltip as vscode.MarkdownString).value).toContain(
      'branch `parallelai/r1`: 1 task merged, 1 file changed, +1 −0 — take it with `parallelai apply r1`',
    );
    await tree.getChildren({ kind: 'run', runId: 'r1' });
    expect(api.calls.filter((call) => call === 'getChanges r1')).toHaveLength(1); // nothing finished since

    api.publish(ev.task('r1', 't2', 'succeeded'));
    await until(() => controller.model.get('r1')?.tasks.t2?.state === 'succeeded');
    api.changes.set('r1', { ...changes, tasks: [...changes.tasks, { ...changes.tasks[0]!, task_id: 't2' }] });
    const again = await tree.getChildren({ kind: 'run', runId: 'r1' });
    expect(api.calls.filter((call) => call === 'getChanges r1')).toHaveLength(2);
    expect(tree.getTreeItem(again[1]!).contextValue).toBe('task.succeeded.diff');

    // A run without isolation is asked once, and its rows look as they always did.
    const [p1] = await tree.getChildren({ kind: 'run', runId: 'r2' });
    await tree.getChildren({ kind: 'run', runId: 'r2' });
    expect(tree.getTreeItem(p1!).contextValue).toBe('task.succeeded');
    expect(tree.getTreeItem(p1!).tooltip).toBe('p1: succeeded');
    expect(api.calls.filter((call) => call === 'getChanges r2')).toHaveLength(1);
    tree.dispose();
    controller.dispose();
  });
});
