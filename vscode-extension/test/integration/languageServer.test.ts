/**
 * The desktop path against the real thing: `parallelai lsp` (from the repository's venv) over
 * stdio, and `LspDaemonApi` on top of it, exactly as the extension uses it. The server starts a
 * detached daemon in a temporary state dir; the test stops it at the end. Skipped when the venv
 * is not there (scripts/setup.sh makes it).
 */

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonError } from '../../src/common/daemon/errors';
import { LspDaemonApi } from '../../src/common/daemon/lspApi';
import type { DaemonEvent, RunRetried } from '../../src/common/daemon/types';
import { mergeSnapshot, applyEvents, countsOf } from '../../src/common/runs/runView';

const parallelai = process.env.PARALLELAI_BIN ?? resolve(__dirname, '../../../.venv/bin/parallelai');

interface Published {
  uri: string;
  diagnostics: { source?: string; message: string }[];
}

describe.skipIf(!existsSync(parallelai))('LspDaemonApi against `parallelai lsp`', () => {
  let root: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;
  let server: ChildProcessWithoutNullStreams;
  let connection: MessageConnection;
  let api: LspDaemonApi;
  let stderr = '';
  const published: Published[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'parallelai-lsp-'));
    workspace = join(root, 'workspace');
    mkdirSync(join(workspace, 'src'), { recursive: true });
    writeFileSync(join(workspace, 'src', 'calc.py'), 'def div(a, b):\n    return a / b\n');
    writeFileSync(join(workspace, 'src', 'greet.ts'), 'export const greet = (name: string) => `hi ${name}`;\n');
    env = { ...process.env, PARALLELAI_STATE_DIR: join(root, 'state') };
    server = spawn(parallelai, ['lsp', '--stdio'], { cwd: workspace, env });
    server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    connection = createMessageConnection(new StreamMessageReader(server.stdout), new StreamMessageWriter(server.stdin));
    connection.onNotification('textDocument/publishDiagnostics', (params: Published) => {
      published.push(params);
    });
    connection.onRequest('window/workDoneProgress/create', () => null);
    connection.onNotification('window/showMessage', () => undefined);
    connection.onNotification('window/logMessage', () => undefined);
    connection.listen();
    const rootUri = pathToFileURL(workspace).toString();
    await connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri,
      workspaceFolders: [{ uri: rootUri, name: 'workspace' }],
      capabilities: { window: { workDoneProgress: true } },
    });
    await connection.sendNotification('initialized', {});
    api = new LspDaemonApi({ sendRequest: (method, params) => connection.sendRequest(method, params) }, { retryMs: 50 });
  }, 60_000);

  afterAll(async () => {
    try {
      await connection.sendRequest('shutdown');
      await connection.sendNotification('exit');
    } catch {
      server.kill();
    }
    connection.dispose();
    // The server's daemon is detached on purpose (runs outlive the editor): stop it here.
    spawnSync(parallelai, ['stop'], { env, timeout: 20_000 });
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('hands out the daemon URL and token, which answer over HTTP', async () => {
    const info = await api.daemon();
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.token.length).toBeGreaterThan(20);
    const health = await fetch(`${info.url}/v1/health`, { headers: { Authorization: `Bearer ${info.token}` } });
    expect(health.status).toBe(200);
  }, 30_000);

  it('lists the templates, code_review among them', async () => {
    const templates = await api.listTemplates();
    expect(templates.map((t) => t.name)).toContain('code_review');
  }, 30_000);

  it('starts a review run through the server, follows it over SSE to the end, and reads it back', async () => {
    const created = await api.startRun({ template: 'code_review', params: {}, engine: 'echo', parallel: 2, workdir: workspace });
    expect(created.run.total).toBe(2);
    const abort = new AbortController();
    const events: DaemonEvent[] = [];
    for await (const event of api.events({ runId: created.id, after: 0, signal: abort.signal })) {
      events.push(event);
      if (event.type === 'run.finished') {
        abort.abort();
      }
    }
    expect(events[0]?.type).toBe('run.created');
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', state: 'succeeded' });

    const { run, tasks } = await api.getRun(created.id);
    expect(run.state).toBe('succeeded');
    expect(tasks).toHaveLength(2);
    const folded = applyEvents(mergeSnapshot(undefined, run, tasks), events)!;
    expect(countsOf(folded).succeeded).toBe(2);

    const detail = await api.getTask(created.id, tasks[0]!.id);
    expect(detail.state).toBe('succeeded');
    expect(detail.task.prompt).toContain('code review');
    expect((await api.listRuns({ limit: 5 })).map((r) => r.id)).toContain(created.id);
    expect((await api.cancelRun(created.id)).state).toBe('succeeded'); // a finished run stays as it ended
  }, 60_000);

  it('retries a failed run through the server: its failed task runs again, on the same event stream, to success', async () => {
    const failing = { engine: 'echo', prompts: ['flaky'], engines: { echo: { fail_attempts: 1, failure_kind: 'execution' } } };
    const created = await api.startRun(failing);
    const ends: DaemonEvent[] = [];
    const abort = new AbortController();
    let retried: Promise<RunRetried> | undefined;
    for await (const event of api.events({ runId: created.id, after: 0, signal: abort.signal })) {
      if (event.type !== 'run.finished') {
        continue;
      }
      ends.push(event);
      if (ends.length === 1) {
        retried = api.retryRun(created.id); // the stream goes on: the retry's events follow
      } else {
        abort.abort();
      }
    }
    expect(ends.map((end) => end.type === 'run.finished' && end.state)).toEqual(['failed', 'succeeded']);
    expect(await retried).toMatchObject({ retried: 1 });
    const { run, tasks } = await api.getRun(created.id);
    expect(run).toMatchObject({ state: 'succeeded', active: false, executed_by: null });
    expect(tasks.map((task) => [task.state, task.attempts])).toEqual([['succeeded', 2]]);
    expect((await api.retryRun(created.id)).retried).toBe(0); // nothing failed any more
  }, 60_000);

  it('publishes the review findings as diagnostics on the files (the run was watched)', async () => {
    const deadline = Date.now() + 20_000;
    while (!published.some((p) => p.uri.endsWith('/src/calc.py') && p.diagnostics.length > 0) && Date.now() < deadline) {
      await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    }
    const calc = published.filter((p) => p.uri.endsWith('/src/calc.py')).at(-1);
    expect(calc?.diagnostics[0]?.source, stderr).toBe('parallelai');
  }, 30_000);

  it('answers a mistake with an error the extension can show', async () => {
    const error = await api.getRun('r-does-not-exist').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonError);
    expect((error as DaemonError).code).toBe('RunNotFoundError');
    expect((error as DaemonError).message).toContain('r-does-not-exist');
  }, 30_000);

  it('opens the dashboard through a one-time link, not the token', async () => {
    const link = await api.dashboardLink();
    expect(link.url).toContain('/login?code=');
    expect(link.url).not.toContain((await api.daemon()).token);
  }, 30_000);
});
