import { describe, expect, it } from 'vitest';
import { parseHostMessage, parseWebviewMessage } from '../../src/common/panel/messages';
import { applyEvents, mergeSnapshot } from '../../src/common/runs/runView';
import { ev, runOut, taskOut } from '../helpers/builders';

describe('messages from the webview', () => {
  it('accepts exactly the five requests the panel can make', () => {
    expect(parseWebviewMessage({ type: 'ready' })).toEqual({ type: 'ready' });
    expect(parseWebviewMessage({ type: 'cancel' })).toEqual({ type: 'cancel' });
    expect(parseWebviewMessage({ type: 'retry' })).toEqual({ type: 'retry' });
    expect(parseWebviewMessage({ type: 'openDashboard' })).toEqual({ type: 'openDashboard' });
    expect(parseWebviewMessage({ type: 'showTask', taskId: 'review-a.py.1' })).toEqual({ type: 'showTask', taskId: 'review-a.py.1' });
  });

  it('refuses anything else: unknown types, extra fields, odd task ids, non-objects', () => {
    for (const bad of [
      null,
      'ready',
      [],
      {},
      { type: 'startRun', run: {} },
      { type: 'cancel', runId: 'someone-elses-run' },
      { type: 'retry', tasks: ['t1'] },
      { type: 'ready', token: 'x' },
      { type: 'showTask' },
      { type: 'showTask', taskId: 42 },
      { type: 'showTask', taskId: '../../etc/passwd' },
      { type: 'showTask', taskId: 'a'.repeat(200) },
      { type: 'showTask', taskId: 't1', extra: true },
    ]) {
      expect(parseWebviewMessage(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

describe('messages from the extension host', () => {
  const run = mergeSnapshot(undefined, runOut('r1'), [taskOut('t1', 'running')]);

  it('accepts a snapshot, events, connection changes and errors', () => {
    expect(parseHostMessage({ type: 'snapshot', run, connection: 'live' })).toEqual({ type: 'snapshot', run, connection: 'live' });
    const events = [ev.task('r1', 't1', 'succeeded'), ev.finished('r1', 'succeeded', { succeeded: 1 })];
    expect(parseHostMessage({ type: 'events', events })).toEqual({ type: 'events', events });
    expect(parseHostMessage({ type: 'connection', status: 'reconnecting' })).toEqual({ type: 'connection', status: 'reconnecting' });
    expect(parseHostMessage({ type: 'error', message: 'nope' })).toEqual({ type: 'error', message: 'nope' });
  });

  it('refuses a snapshot whose run or tasks are malformed', () => {
    expect(parseHostMessage({ type: 'snapshot', run: { ...run, state: 'exploded' }, connection: 'live' })).toBeUndefined();
    expect(parseHostMessage({ type: 'snapshot', run: { ...run, order: ['t1', 'ghost'] }, connection: 'live' })).toBeUndefined();
    expect(parseHostMessage({ type: 'snapshot', run: { ...run, tasks: { t1: { ...run.tasks.t1, usage: null } } }, connection: 'live' })).toBeUndefined();
    expect(parseHostMessage({ type: 'snapshot', run, connection: 'telepathy' })).toBeUndefined();
  });

  it('refuses a batch with any malformed event in it', () => {
    expect(parseHostMessage({ type: 'events', events: [ev.task('r1', 't1', 'running'), { type: 'task.state', seq: 'x' }] })).toBeUndefined();
    expect(parseHostMessage({ type: 'events', events: 'all of them' })).toBeUndefined();
  });

  it('round-trips a run folded from events', () => {
    const folded = applyEvents(undefined, [ev.created('r2', 2), ev.task('r2', 'a', 'failed', { reason: 'x' }), ev.budget('r2')])!;
    const message = JSON.parse(JSON.stringify({ type: 'snapshot', run: folded, connection: 'live' })) as unknown;
    expect(parseHostMessage(message)).toEqual({ type: 'snapshot', run: folded, connection: 'live' });
  });
});
