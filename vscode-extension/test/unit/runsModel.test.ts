import { describe, expect, it } from 'vitest';
import { RunsModel, type RunsChange } from '../../src/common/runs/runsModel';
import { parseDaemonEvent } from '../../src/common/daemon/validate';
import { applyEvents, countsOf, failuresOf, isActive, mergeSnapshot, retryableCount, usageOf } from '../../src/common/runs/runView';
import { ev, runOut, taskOut, usage } from '../helpers/builders';

describe('a run folded from events', () => {
  it('starts from run.created with every task pending and counts each state change', () => {
    const run = applyEvents(undefined, [
      ev.created('r1', 3, 'review'),
      ev.started('r1'),
      ev.task('r1', 't1', 'ready'),
      ev.task('r1', 't1', 'running'),
      ev.task('r1', 't2', 'running'),
      ev.task('r1', 't1', 'succeeded'),
    ])!;
    expect(run.name).toBe('review');
    expect(run.state).toBe('running');
    expect(run.complete).toBe(true);
    expect(countsOf(run)).toMatchObject({ pending: 1, running: 1, succeeded: 1, failed: 0 });
    expect(run.order).toEqual(['t1', 't2']);
  });

  it('ignores events for a run it has never seen created', () => {
    expect(applyEvents(undefined, [ev.task('r1', 't1', 'running')])).toBeUndefined();
  });

  it('returns the same object when nothing shown changed (streamed text is not shown)', () => {
    const run = applyEvents(undefined, [ev.created('r1', 1)])!;
    expect(applyEvents(run, [ev.output('r1', 't1', 'hello')])).toBe(run);
  });

  it('keeps failures with their reasons and retry messages', () => {
    const run = applyEvents(undefined, [
      ev.created('r1', 2),
      ev.task('r1', 't1', 'running'),
      ev.retrying('r1', 't1', 'rate limited, retrying in 1s'),
      ev.task('r1', 't1', 'running', { attempt: 2 }),
      ev.task('r1', 't1', 'failed', { reason: 'execution: exit 1' }),
      ev.task('r1', 't2', 'skipped', { reason: 'a dependency failed' }),
    ])!;
    expect(failuresOf(run)).toEqual([{ taskId: 't1', message: 'execution: exit 1' }]);
    expect(run.tasks.t1?.attempts).toBe(2);
    expect(run.tasks.t2?.error).toBe('a dependency failed');
  });

  it('adds up the usage tasks report until run.finished gives the total', () => {
    let run = applyEvents(undefined, [ev.created('r1', 2), ev.usage('r1', 't1', usage(0.01, 10, 5)), ev.usage('r1', 't2', usage(0.02, 20, 5))])!;
    expect(usageOf(run)).toEqual({ input_tokens: 30, output_tokens: 10, cost_usd: 0.03 });
    run = applyEvents(run, [ev.finished('r1', 'succeeded', { succeeded: 2 }, usage(0.05, 40, 12))])!;
    expect(usageOf(run)).toEqual({ input_tokens: 40, output_tokens: 12, cost_usd: 0.05 });
    expect(run.state).toBe('succeeded');
    expect(run.finished_at).not.toBeNull();
  });

  it('says when a budget stopped the run', () => {
    const run = applyEvents(undefined, [ev.created('r1', 1), ev.budget('r1')])!;
    expect(run.budget).toBe('cost budget reached: $2.50 of $2.00');
  });

  it('replays a history over a snapshot without counting anything twice', () => {
    const history = [ev.created('r1', 2), ev.started('r1'), ev.task('r1', 't1', 'running'), ev.task('r1', 't1', 'succeeded'), ev.task('r1', 't2', 'running')];
    const snapshot = mergeSnapshot(undefined, runOut('r1', { total: 2 }), [taskOut('t1', 'succeeded'), taskOut('t2', 'running')]);
    const replayed = applyEvents(applyEvents(snapshot, history), history)!;
    expect(countsOf(replayed)).toMatchObject({ succeeded: 1, running: 1, pending: 0 });
  });

  it('never takes a task back from a final state when an older snapshot arrives', () => {
    const live = applyEvents(mergeSnapshot(undefined, runOut('r1', { total: 1 }), [taskOut('t1', 'running')]), [ev.task('r1', 't1', 'succeeded')])!;
    const merged = mergeSnapshot(live, runOut('r1', { total: 1 }), [taskOut('t1', 'running')]);
    expect(merged.tasks.t1?.state).toBe('succeeded');
  });

  it('never moves a task back when a snapshot read before its events arrives', () => {
    const live = applyEvents(undefined, [ev.created('r1', 2), ev.task('r1', 't1', 'running'), ev.task('r1', 't2', 'ready')])!;
    const merged = mergeSnapshot(live, runOut('r1', { state: 'pending', total: 2 }), [taskOut('t1', 'pending'), taskOut('t2', 'pending')]);
    expect(merged.state).toBe('running');
    expect([merged.tasks.t1?.state, merged.tasks.t2?.state]).toEqual(['running', 'ready']);
    expect(merged.tableRead).toBe(true);
  });

  it('takes the table order over the order events named the tasks in', () => {
    const live = applyEvents(undefined, [ev.created('r1', 3), ev.task('r1', 't3', 'ready'), ev.task('r1', 't1', 'running')])!;
    expect(live.order).toEqual(['t3', 't1']);
    const merged = mergeSnapshot(live, runOut('r1', { total: 3 }), [taskOut('t1', 'running'), taskOut('t2', 'pending'), taskOut('t3', 'pending')]);
    expect(merged.order).toEqual(['t1', 't2', 't3']);
  });

  it("uses the snapshot's counts while the task table is unknown, and flags the run as stale on a task event", () => {
    const run = mergeSnapshot(undefined, runOut('r1', { total: 4, counts: { succeeded: 3, running: 1 } }));
    expect(countsOf(run)).toMatchObject({ succeeded: 3, running: 1 });
    const after = applyEvents(run, [ev.task('r1', 't4', 'succeeded')])!;
    expect(after.stale).toBe(true);
    expect(countsOf(after)).toMatchObject({ succeeded: 3, running: 1 });
    const reread = mergeSnapshot(after, runOut('r1', { total: 4, counts: { succeeded: 4 } }), ['t1', 't2', 't3', 't4'].map((id) => taskOut(id, 'succeeded')));
    expect(reread.stale).toBe(false);
    expect(countsOf(reread)).toMatchObject({ succeeded: 4, running: 0 });
  });
});

describe('retrying and interrupted tasks', () => {
  it('counts a task waiting out a retry backoff as retrying, never as running, and knows when it runs again', () => {
    const retryAt = 1_800_000_060;
    let run = applyEvents(undefined, [
      ev.created('r1', 2),
      ev.task('r1', 't1', 'running'),
      ev.task('r1', 't2', 'running'),
      ev.task('r1', 't1', 'retrying', { attempt: 1, reason: 'attempt 1 failed (rate_limited: slow down); retrying in 60.0s', retryAt }),
      ev.retrying('r1', 't1', 'slow down'),
    ])!;
    expect(countsOf(run)).toMatchObject({ running: 1, retrying: 1 });
    expect(run.tasks.t1).toMatchObject({ state: 'retrying', retry_at: retryAt, error: 'attempt 1 failed (rate_limited: slow down); retrying in 60.0s' });
    expect(failuresOf(run)).toEqual([]);

    run = applyEvents(run, [ev.task('r1', 't1', 'ready'), ev.task('r1', 't1', 'running', { attempt: 2 })])!;
    expect(countsOf(run)).toMatchObject({ running: 2, retrying: 0 });
    expect(run.tasks.t1).toMatchObject({ attempts: 2, retry_at: null, error: null });
  });

  it('never takes a task waiting to retry back to running when a snapshot read before that arrives', () => {
    const live = applyEvents(mergeSnapshot(undefined, runOut('r1', { total: 1 }), [taskOut('t1', 'running')]), [ev.task('r1', 't1', 'retrying', { retryAt: 1_800_000_060 })])!;
    const merged = mergeSnapshot(live, runOut('r1', { total: 1 }), [taskOut('t1', 'running')]);
    expect(merged.tasks.t1).toMatchObject({ state: 'retrying', retry_at: 1_800_000_060 });
    const newer = mergeSnapshot(undefined, runOut('r1', { total: 1 }), [taskOut('t1', 'retrying', { retry_at: 1_800_000_090, reason: 'retrying in 30s' })]);
    expect(newer.tasks.t1).toMatchObject({ state: 'retrying', retry_at: 1_800_000_090, error: 'retrying in 30s' });
  });

  it('shows tasks cut off by their process as interrupted, and the run as neither going nor retryable', () => {
    const run = applyEvents(undefined, [
      ev.created('r1', 3),
      ev.started('r1'),
      ev.task('r1', 't1', 'succeeded'),
      ev.task('r1', 't2', 'running'),
      ev.task('r1', 't2', 'interrupted', { reason: 'its process stopped mid-attempt' }),
      ev.finished('r1', 'interrupted', { succeeded: 1, interrupted: 1, pending: 1 }),
    ])!;
    expect(countsOf(run)).toMatchObject({ succeeded: 1, interrupted: 1, pending: 1, running: 0 });
    expect(run.tasks.t2?.error).toBe('its process stopped mid-attempt');
    expect(isActive(run)).toBe(false);
    expect(retryableCount(run)).toBe(0);
  });

  it('follows a retried run: its failed and skipped tasks go back to pending and run again, and the run is read again', () => {
    let run = applyEvents(undefined, [
      ev.created('r1', 3),
      ev.started('r1'),
      ev.task('r1', 'a', 'succeeded'),
      ev.task('r1', 'b', 'failed', { reason: 'execution: exit 1' }),
      ev.task('r1', 'c', 'skipped', { reason: 'a dependency failed' }),
      ev.finished('r1', 'failed', { succeeded: 1, failed: 1, skipped: 1 }),
    ])!;
    expect(retryableCount(run)).toBe(2);
    run = { ...run, stale: false, executed_by: null };
    run = applyEvents(run, [ev.started('r1', 2), ev.task('r1', 'b', 'pending'), ev.task('r1', 'c', 'pending')])!;
    expect(run.state).toBe('running');
    expect(run.stale).toBe(true); // who executes it now, from a fresh snapshot
    expect(retryableCount(run)).toBe(0);
    expect(countsOf(run)).toMatchObject({ succeeded: 1, pending: 2, failed: 0, skipped: 0 });
    expect(failuresOf(run)).toEqual([]);
    expect(run.tasks.b?.error).toBeNull();
  });

  it("accepts a newer daemon's run.finished counts, whatever states they name", () => {
    const finished = { ...ev.finished('r1', 'interrupted', {}), counts: { pending: 1, retrying: 0, interrupted: 2, teleported: 1 } };
    const parsed = parseDaemonEvent(JSON.parse(JSON.stringify(finished)));
    expect(parsed).toMatchObject({ type: 'run.finished', state: 'interrupted' });
    expect(parseDaemonEvent({ ...finished, counts: { pending: 'one' } })).toBeUndefined();
    const run = applyEvents(applyEvents(undefined, [ev.created('r1', 3)]), [parsed!])!;
    expect(run.state).toBe('interrupted');
    expect(run.counts).toMatchObject({ interrupted: 2 });
  });
});

describe('RunsModel (the Runs view model)', () => {
  it('lists runs newest first and forgets the ones the daemon no longer lists', () => {
    const model = new RunsModel();
    model.replaceAll([runOut('old', { created_at: 1 }), runOut('new', { created_at: 2 })]);
    expect(model.list().map((r) => r.id)).toEqual(['new', 'old']);
    model.replaceAll([runOut('new', { created_at: 2 })]);
    expect(model.list().map((r) => r.id)).toEqual(['new']);
  });

  it('adds a run when its run.created arrives and says which runs each batch changed', () => {
    const model = new RunsModel();
    const changes: RunsChange[] = [];
    model.onDidChange((change) => changes.push(change));
    model.replaceAll([runOut('r1')]);
    model.apply([ev.created('r2', 2, 'second'), ev.task('r2', 't1', 'running')]);
    expect(model.get('r2')?.name).toBe('second');
    expect(model.list()[0]?.id).toBe('r2');
    model.apply([ev.task('r2', 't1', 'succeeded'), ev.output('r2', 't2', 'text')]);
    expect(changes.map((c) => (c.kind === 'all' ? 'all' : [...c.ids].join()))).toEqual(['all', 'all', 'r2']);
    expect(countsOf(model.get('r2')!)).toMatchObject({ succeeded: 1, pending: 1 });
  });

  it('fires nothing for events that change nothing shown', () => {
    const model = new RunsModel();
    model.apply([ev.created('r1', 1)]);
    let fired = 0;
    model.onDidChange(() => fired++);
    model.apply([ev.output('r1', 't1', 'x'), ev.task('unknown', 't1', 'running')]);
    expect(fired).toBe(0);
  });

  it('reports runs whose table it needs, and the active ones', () => {
    const model = new RunsModel();
    model.replaceAll([runOut('r1'), runOut('r2', { state: 'succeeded', active: false })]);
    model.apply([ev.task('r1', 't1', 'running')]);
    expect(model.stale()).toEqual(['r1']);
    expect(model.active().map((r) => r.id)).toEqual(['r1']);
    model.upsert(runOut('r1'), [taskOut('t1', 'running')]);
    expect(model.stale()).toEqual([]);
  });
});
