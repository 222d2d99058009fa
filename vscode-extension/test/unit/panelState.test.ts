import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TASK_STATES } from '../../src/common/daemon/types';
import { contentSecurityPolicy, escapeHtml, makeNonce, panelHtml } from '../../src/common/panel/html';
import { initialPanelState, panelView, reducePanel } from '../../src/common/panel/state';
import { mergeSnapshot } from '../../src/common/runs/runView';
import { ev, runOut, taskOut, usage } from '../helpers/builders';

describe('the panel state reducer', () => {
  const snapshot = mergeSnapshot(undefined, runOut('r1', { name: 'review', total: 3 }), [taskOut('t1', 'running'), taskOut('t2', 'pending'), taskOut('t3', 'pending')]);

  it('starts from a snapshot and folds event batches into it', () => {
    let state = reducePanel(initialPanelState, { type: 'snapshot', run: snapshot, connection: 'live' });
    state = reducePanel(state, { type: 'events', events: [ev.task('r1', 't1', 'succeeded'), ev.usage('r1', 't1', usage(0.01, 100, 20)), ev.task('r1', 't2', 'running')] });
    state = reducePanel(state, { type: 'events', events: [ev.task('r1', 't2', 'failed', { reason: 'exit 2' }), ev.task('r1', 't3', 'skipped')] });
    state = reducePanel(state, { type: 'events', events: [ev.finished('r1', 'failed', { succeeded: 1, failed: 1, skipped: 1 }, usage(0.01, 100, 20))] });
    const view = panelView(state.run!);
    expect(view).toMatchObject({ title: 'review', state: 'failed', active: false, total: 3, finished: 3 });
    expect(view.counts).toEqual({ pending: 0, ready: 0, running: 0, retrying: 0, interrupted: 0, succeeded: 1, failed: 1, cancelled: 0, skipped: 1 });
    expect(view.retryable).toBe(2); // the failed task and the one skipped because of it
    expect(view.usage).toEqual({ input_tokens: 100, output_tokens: 20, cost_usd: 0.01 });
    expect(view.failures).toEqual([{ taskId: 't2', message: 'exit 2' }]);
    expect(view.tasks.map((task) => task.state)).toEqual(['succeeded', 'failed', 'skipped']);
  });

  it('offers no retry while the run goes, and says who executes it only then', () => {
    const going = mergeSnapshot(undefined, runOut('r1', { executed_by: 'the daemon (pid 812)' }), [taskOut('t1', 'failed'), taskOut('t2', 'running')]);
    expect(panelView(going)).toMatchObject({ active: true, retryable: 0, executedBy: 'the daemon (pid 812)' });
    const ended = reducePanel({ ...initialPanelState, run: going }, { type: 'events', events: [ev.task('r1', 't2', 'succeeded'), ev.finished('r1', 'failed', { failed: 1, succeeded: 1 })] });
    expect(panelView(ended.run!)).toMatchObject({ active: false, retryable: 1, executedBy: null });
  });

  it('names the run\'s engine for the tasks that name none', () => {
    const run = { ...runOut('r1', { total: 2 }), default_engine: 'claude' };
    const view = panelView(mergeSnapshot(undefined, run, [taskOut('t1', 'running', { engine: null }), taskOut('t2', 'running', { engine: 'codex' })]));
    expect(view.tasks.map((task) => task.engine)).toEqual(['claude', 'codex']);
    const older = panelView(mergeSnapshot(undefined, runOut('r1', { total: 1 }), [taskOut('t1', 'running', { engine: null })]));
    expect(older.tasks[0]?.engine).toBeNull(); // a daemon that does not say: the table shows a dash
  });

  it('is unchanged by a batch of events that show nothing new', () => {
    const state = reducePanel(initialPanelState, { type: 'snapshot', run: snapshot, connection: 'live' });
    expect(reducePanel(state, { type: 'events', events: [ev.output('r1', 't1', 'chunk')] })).toBe(state);
    expect(reducePanel(state, { type: 'connection', status: 'live' })).toBe(state);
  });

  it('tracks the connection and keeps the last error until the next snapshot', () => {
    let state = reducePanel(initialPanelState, { type: 'connection', status: 'reconnecting' });
    expect(state.connection).toBe('reconnecting');
    state = reducePanel(state, { type: 'error', message: 'cancel failed' });
    expect(state.error).toBe('cancel failed');
    state = reducePanel(state, { type: 'snapshot', run: snapshot, connection: 'live' });
    expect(state.error).toBeUndefined();
  });

  it('ignores events before the snapshot arrives, except a run.created that starts it', () => {
    expect(reducePanel(initialPanelState, { type: 'events', events: [ev.task('r1', 't1', 'running')] }).run).toBeUndefined();
    expect(reducePanel(initialPanelState, { type: 'events', events: [ev.created('r9', 1)] }).run?.id).toBe('r9');
  });
});

describe('the panel HTML', () => {
  const nonce = makeNonce();
  const html = panelHtml({
    cspSource: 'https://ext.vscode-cdn.net',
    nonce,
    scriptUri: 'https://ext.vscode-cdn.net/dist/webview/panel.js',
    styleUri: 'https://ext.vscode-cdn.net/media/panel.css',
    title: 'Run <r1>',
  });

  it('has a strict CSP: nothing by default, styles from the extension, only the nonced script, no network', () => {
    const policy = contentSecurityPolicy('https://ext.vscode-cdn.net', nonce);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain('style-src https://ext.vscode-cdn.net');
    expect(policy).toContain(`script-src 'nonce-${nonce}'`);
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).not.toContain('unsafe-eval');
    expect(policy).not.toContain('connect-src');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${escapeHtml(policy)}">`);
  });

  it('loads exactly one script, carrying the nonce, and no inline script or style', () => {
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toContain(`<script nonce="${escapeHtml(nonce)}" src="https://ext.vscode-cdn.net/dist/webview/panel.js"></script>`);
    expect(html).not.toMatch(/<style|style="/);
    expect(html).toContain('<title>Run &#60;r1&#62;</title>');
  });

  it('lays out a count per state (a filter for the table), cost, tokens and time, the task table and the failures', () => {
    for (const state of TASK_STATES) {
      expect(html).toContain(`data-state="${state}" aria-pressed="false"`);
      expect(html).toContain(`id="count-${state}"`);
      expect(html).toContain(`<option value="${state}">${state}</option>`);
    }
    for (const id of ['cost', 'tokens', 'elapsed', 'bar', 'grid', 'table-search', 'table-state', 'table-rows', 'failures', 'no-failures']) {
      expect(html).toContain(`id="${id}"`);
    }
    expect([...html.matchAll(/data-sort="(\w+)"/g)].map((match) => match[1])).toEqual(['id', 'state', 'engine', 'duration', 'cost']);
  });

  it('makes a fresh 128-bit nonce each time', () => {
    expect(makeNonce()).not.toBe(makeNonce());
    expect(atob(makeNonce())).toHaveLength(16);
  });
});

describe('the panel stylesheet', () => {
  const css = readFileSync(new URL('../../media/panel.css', import.meta.url), 'utf8');
  const dashboard = readFileSync(new URL('../../../parallelai/server/http/static/dashboard.html', import.meta.url), 'utf8');
  const colour = (source: string, state: string): string | undefined => new RegExp(`--${state}:\\s*([^;]+);`).exec(source)?.[1];

  it('gives every state the dashboard\'s hue: the theme\'s colour, or the dashboard\'s own where the theme has none', () => {
    for (const state of ['running', 'retrying', 'interrupted', 'succeeded', 'failed', 'cancelled', 'skipped']) {
      const ours = colour(css, state);
      expect(ours, state).toMatch(/^var\(--vscode-[\w-]+, #[0-9a-f]{6}\)$/);
      expect(ours?.slice(-8, -1), state).toBe(colour(dashboard, state));
    }
  });

  it('tells running from cancelled, and from every other state', () => {
    const theme = TASK_STATES.map((state) => colour(css, state));
    expect(new Set(theme).size).toBe(TASK_STATES.length);
    expect(colour(css, 'running')).toContain('--vscode-charts-blue');
    expect(colour(css, 'cancelled')).not.toContain('blue');
  });
});
