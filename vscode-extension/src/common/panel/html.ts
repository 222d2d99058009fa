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
  const counts = TASK_STATES.map(
    (state) =>
      `<li class="count" data-state="${state}"><span class="dot state-${state}"></span>` +
      `<span class="count-name">${state}</span><span class="count-value" id="count-${state}">0</span></li>`,
  ).join('');
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
  <span id="connection" class="connection" title="the extension's link to the daemon">connecting</span>
</header>
<section class="summary" aria-label="summary">
  <div class="progress-row">
    <progress id="progress" max="1" value="0"></progress>
    <span id="done" class="done">0 / 0</span>
  </div>
  <dl class="facts">
    <div><dt>elapsed</dt><dd id="elapsed">–</dd></div>
    <div><dt>cost</dt><dd id="cost">$0</dd></div>
    <div><dt>tokens</dt><dd id="tokens">0</dd></div>
    <div><dt>run</dt><dd id="run-id">–</dd></div>
    <div id="executed-by-fact" hidden><dt>executed by</dt><dd id="executed-by">–</dd></div>
  </dl>
  <div class="actions">
    <button id="cancel" type="button" disabled>Cancel run</button>
    <button id="retry" type="button" hidden>Retry failed tasks</button>
    <button id="dashboard" type="button" class="secondary">Open in dashboard</button>
  </div>
  <p id="note" class="note" hidden></p>
  <p id="error" class="error" role="alert" hidden></p>
</section>
<section aria-labelledby="counts-title">
  <h2 id="counts-title">Tasks by state</h2>
  <ul id="counts" class="counts">${counts}</ul>
</section>
<section aria-labelledby="grid-title">
  <h2 id="grid-title">Tasks</h2>
  <div id="grid" class="grid" role="list"></div>
</section>
<section id="failures-section" aria-labelledby="failures-title" hidden>
  <h2 id="failures-title">Failures</h2>
  <ol id="failures" class="failures"></ol>
</section>
<script nonce="${escapeHtml(options.nonce)}" src="${escapeHtml(options.scriptUri)}"></script>
</body>
</html>`;
}

/** Safe in text and in double-quoted attributes (every attribute here is double-quoted). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
