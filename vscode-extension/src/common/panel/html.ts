/**
 * The run panel's HTML: a skeleton the webview script fills in, under a Content Security Policy
 * that allows nothing but the extension's own stylesheet and the one script carrying this
 * load's nonce. No network at all (`default-src 'none'`, no `connect-src`): the data comes by
 * `postMessage` from the extension host.
 */

import { TASK_STATES } from '../daemon/types';

export interface PanelHtmlOptions {
  /** `webview.cspSource`: where the extension's resources are served from inside the webview. */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  title: string;
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** 128 random bits, base64: new for every load of the panel. */
export function makeNonce(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

export function panelHtml(options: PanelHtmlOptions): string {
  const stats = TASK_STATES.map(
    (state) =>
      `<button type="button" class="stat count" data-state="${state}" aria-pressed="false" title="show only ${state} tasks in the table">` +
      `<span class="label"><i class="swatch state-${state}"></i>${state}</span><span class="value" id="count-${state}">0</span></button>`,
  ).join('');
  const bar = TASK_STATES.map((state) => `<span class="state-${state}" data-state="${state}"></span>`).join('');
  const stateOptions = TASK_STATES.map((state) => `<option value="${state}">${state}</option>`).join('');
  const header = (key: string, label: string, numeric = false): string =>
    `<button type="button" role="columnheader" data-sort="${key}"${numeric ? ' class="num"' : ''}>${label}</button>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(options.cspSource, options.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${escapeHtml(options.styleUri)}">
<title>${escapeHtml(options.title)}</title>
</head>
<body>
<header class="header">
  <h1 id="title">${escapeHtml(options.title)}</h1>
  <span id="run-state" class="badge">…</span>
  <span id="run-id" class="muted mono" title="the run's id">–</span>
  <span id="executed-by-fact" class="muted" hidden>executed by <span id="executed-by">–</span></span>
  <div class="actions">
    <button id="cancel" type="button" class="danger" disabled>Cancel run</button>
    <button id="retry" type="button" hidden>Retry failed tasks</button>
    <button id="dashboard" type="button" class="secondary">Open in dashboard</button>
  </div>
  <span id="connection" class="connection" title="the extension's link to the daemon">connecting</span>
</header>
<p id="note" class="note" hidden></p>
<p id="error" class="error" role="alert" hidden></p>
<div class="progress-row" aria-label="progress">
  <div id="bar" class="bar" role="img" aria-label="tasks by state">${bar}</div>
  <span id="done" class="done">0 / 0 done</span>
</div>
<section id="counts" class="stats" aria-label="tasks by state, cost and time">
  ${stats}
  <div class="stat fact"><span class="label">cost</span><span class="value" id="cost">$0.00</span></div>
  <div class="stat fact"><span class="label">tokens</span><span class="value" id="tokens">0</span></div>
  <div class="stat fact"><span class="label">elapsed</span><span class="value" id="elapsed">–</span></div>
</section>
<div class="layout">
  <div class="stack">
    <section class="card" aria-labelledby="grid-title">
      <h2 id="grid-title">Tasks</h2>
      <div id="grid" class="grid" role="list"></div>
    </section>
    <section class="card table-card" aria-label="task table">
      <div class="table-tools">
        <input id="table-search" type="search" placeholder="search id, engine, error" aria-label="search tasks">
        <select id="table-state" aria-label="filter tasks by state"><option value="">all states</option>${stateOptions}</select>
        <span id="table-count" class="muted table-count" aria-live="polite"></span>
      </div>
      <div id="table-head" class="table-row table-head" role="row">
        ${header('id', 'task')}${header('state', 'state')}${header('engine', 'engine')}<span class="num">attempts</span>${header('duration', 'duration', true)}${header('cost', 'cost', true)}<span>error / reason</span>
      </div>
      <div id="table-scroll" class="table-scroll" role="grid" aria-label="tasks">
        <div id="table-spacer" class="table-spacer"><div id="table-rows" class="table-rows"></div></div>
      </div>
      <p id="table-empty" class="empty" hidden>No task matches.</p>
    </section>
  </div>
  <section id="failures-section" class="card" aria-labelledby="failures-title">
    <h2 id="failures-title">Failures <span id="failure-count" class="muted"></span></h2>
    <ol id="failures" class="failures"></ol>
    <p id="no-failures" class="empty">None so far.</p>
  </section>
</div>
<script nonce="${escapeHtml(options.nonce)}" src="${escapeHtml(options.scriptUri)}"></script>
</body>
</html>`;
}

/** Safe in text and in double-quoted attributes (every attribute here is double-quoted). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
