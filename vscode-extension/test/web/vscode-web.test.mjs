// The extension in the real VS Code for the Web, in headless Chromium, against a real daemon:
// connect through the command palette, start a template run and watch the panel, the status bar
// and the Runs view follow it live to the end, cancel a second run from the panel's button, retry
// it from the panel's Retry button, find the panel again after a reload of the window, and open
// the change a task of an isolated run made in VS Code's diff editor from its row in the Runs view.
// Writes test-artifacts/vscode-panel.png (and, with UPDATE_SCREENSHOT=1 or when it is missing,
// docs/images/vscode-panel.png).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { open } from '@vscode/test-web';
import { chromium } from 'playwright';
import {
  eventually,
  extensionRoot,
  findBrowser,
  findParallelai,
  freePort,
  makeWorkspace,
  muteTestWebChatter,
  prepareBuild,
  repoRoot,
  startDaemon,
  WORKSPACE_FILES,
} from './harness.mjs';

const STEP_MS = 60_000;
const WAIT_MS = 45_000; // under STEP_MS, so a wait that fails says what it waited for
const artifacts = join(extensionRoot, 'test-artifacts');
muteTestWebChatter();

describe('VS Code for the Web', { timeout: 300_000 }, () => {
  let daemon;
  let server;
  let browser;
  let page;
  let dirs;
  let firstRun;
  let secondRun;
  const pageErrors = [];

  before(async () => {
    assert.ok(existsSync(join(extensionRoot, 'dist', 'web', 'extension.js')), 'run `npm run build` first');
    dirs = makeWorkspace();
    const port = await freePort();
    const origin = `http://localhost:${port}`;
    daemon = await startDaemon({ parallelai: findParallelai(), cwd: dirs.workspace, stateDir: dirs.state, origin });
    server = await open({
      browserType: 'none', // the browser is launched below, from Debian's Chromium
      extensionDevelopmentPath: extensionRoot,
      folderPath: dirs.workspace,
      host: 'localhost',
      port,
      ...prepareBuild(join(extensionRoot, '.vscode-test-web')),
    });
    browser = await chromium.launch({ executablePath: findBrowser(), headless: true, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(origin);
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_MS });
    // The extension is up once its status-bar item is.
    await statusBar().waitFor({ timeout: STEP_MS });
  });

  after(async () => {
    if (page !== undefined) {
      const toasts = await page.locator('.notification-toast').allTextContents().catch(() => []);
      if (toasts.length > 0) {
        console.log(`notifications left on screen:\n  ${toasts.join('\n  ')}`);
      }
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'vscode-last.png') }).catch(() => undefined);
    }
    await browser?.close().catch(() => undefined);
    server?.dispose();
    await daemon?.stop();
    if (dirs !== undefined) {
      rmSync(dirs.root, { recursive: true, force: true });
    }
  });

  const input = () => page.locator('.quick-input-widget .quick-input-box input');
  const statusBar = () => page.locator('.statusbar-item', { hasText: /ParallelAI|running|queued/ }).first();

  /**
   * Runs a command from the palette. The palette can close under us while the workbench is still
   * moving focus (an input closing, a panel opening), so the whole gesture is retried.
   */
  async function runCommand(title) {
    for (let attempt = 1; ; attempt++) {
      try {
        await page.keyboard.press('F1');
        await input().waitFor({ state: 'visible', timeout: 3_000 });
        await input().fill(`>${title}`, { timeout: 3_000 });
        // Enter runs the focused row: wait until the filter has put the command there.
        await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: title }).waitFor({ timeout: 5_000 });
        // A view that finishes opening takes the focus and closes the palette; Enter would then
        // land nowhere and the command silently not run. Press it only into the palette's own box.
        if (!(await input().evaluate((box) => box === document.activeElement))) {
          throw new Error('the palette lost the focus');
        }
        await page.keyboard.press('Enter');
        return;
      } catch (error) {
        if (attempt === 4) {
          throw error;
        }
        await page.keyboard.press('Escape');
      }
    }
  }

  /** Answers the quick input titled `title`. */
  async function answer(title, value) {
    await page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor({ timeout: STEP_MS });
    await input().fill(value);
    await input().press('Enter');
  }

  async function notification(text) {
    await page.locator('.notification-toast', { hasText: text }).first().waitFor({ timeout: STEP_MS });
  }

  /** The run panel's document for `runId`: the webview's inner frame showing that run. */
  function panelFrame(runId) {
    return eventually(`the panel of ${runId}`, async () => {
      for (const frame of page.frames()) {
        const shown = await frame.evaluate(() => document.getElementById('run-id')?.textContent).catch(() => undefined);
        if (shown === runId) {
          return frame;
        }
      }
      return undefined;
    }, WAIT_MS);
  }

  async function newestRun(except) {
    try {
      return await eventually('a new run on the daemon', async () => {
        const [newest] = await daemon.api('/v1/runs');
        return newest !== undefined && newest.id !== except ? newest : undefined;
      }, WAIT_MS);
    } catch (error) {
      const toasts = await page.locator('.notification-toast').allTextContents();
      const daemonLog = daemon.log().split('\n').slice(-30).join('\n  ');
      throw new Error(`${error.message}; notifications: ${JSON.stringify(toasts)}; the daemon's log ends:\n  ${daemonLog}`, { cause: error });
    }
  }

  it('connects to the daemon with the URL and token typed into "Connect to Daemon"', { timeout: STEP_MS }, async () => {
    await runCommand('ParallelAI: Connect to Daemon');
    await answer('Connect to Daemon (1/2)', daemon.url);
    await answer('Connect to Daemon (2/2)', daemon.token);
    await notification(`ParallelAI: connected to ${daemon.url}`);
  });

  it('starts a review from the Runs view\'s "Review Workspace" button with the workspace settings, and the daemon runs it', { timeout: STEP_MS }, async () => {
    // The Runs view, to watch the run in. Its activity-bar button toggles, so click it only when closed.
    const welcome = page.locator('.sidebar .welcome-view-content', { hasText: 'No runs yet.' });
    if (!(await welcome.isVisible())) {
      await page.locator('.activitybar .action-label[aria-label="ParallelAI"]').click();
    }
    // The welcome view's button, not the palette: the view may still be taking the focus.
    await welcome.getByRole('button', { name: 'Review Workspace' }).click({ timeout: STEP_MS });
    firstRun = await newestRun();
    assert.equal(firstRun.name, 'code_review');
    assert.equal(firstRun.total, WORKSPACE_FILES, 'one review task per source file');
  });

  it('follows the run live: the panel and the status bar show tasks running, then the end', { timeout: STEP_MS }, async () => {
    const frame = await panelFrame(firstRun.id);
    await frame.locator('#grid .cell.state-running').first().waitFor({ timeout: STEP_MS });
    assert.equal(await frame.textContent('#run-state'), 'running');
    await statusBar().filter({ hasText: /\d+ running · \$/ }).waitFor({ timeout: STEP_MS });
    // Half-way: some tasks done, some running, the rest queued; the Runs view shows them too.
    const row = page.locator('.monaco-list-row', { hasText: 'code_review' }).first();
    await row.locator('.monaco-tl-twistie').click();
    await frame.locator('#grid .cell.state-succeeded').first().waitFor({ timeout: STEP_MS });
    await frame.locator('#grid .cell.state-running').first().waitFor({ timeout: STEP_MS });
    await page.locator('.monaco-list-row[aria-level="2"]', { hasText: 'succeeded' }).first().waitFor({ timeout: STEP_MS });
    await statusBar().filter({ hasText: /running · \$0\.\d/ }).waitFor({ timeout: STEP_MS });
    mkdirSync(artifacts, { recursive: true });
    const hideToasts = await page.addStyleTag({ content: '.notifications-toasts { visibility: hidden !important; }' });
    await page.screenshot({ path: join(artifacts, 'vscode-panel-live.png') });
    await hideToasts.evaluate((style) => style.remove());
    await frame.waitForFunction(() => document.getElementById('run-state')?.textContent === 'succeeded', undefined, { timeout: STEP_MS });
    const run = await daemon.api(`/v1/runs/${firstRun.id}`);
    assert.equal(run.state, 'succeeded');
    assert.equal(run.counts.succeeded, WORKSPACE_FILES);
    assert.equal(await frame.textContent('#count-succeeded'), String(WORKSPACE_FILES));
    assert.equal(await frame.textContent('#done'), `${WORKSPACE_FILES} / ${WORKSPACE_FILES} done`);
    assert.equal(await frame.locator('#grid .cell.state-succeeded').count(), WORKSPACE_FILES);
    assert.notEqual(await frame.textContent('#tokens'), '0');
    assert.match(await frame.textContent('#cost'), /^\$0\.\d+$/);
    assert.equal(await frame.textContent('#connection'), 'live');
    assert.match(await frame.textContent('#elapsed'), /^\d+(\.\d)?s$|^\d+m \d\ds$/);
    // The task table: every task, sortable by a click on a column, filtered by a click on a count.
    assert.equal(await frame.textContent('#table-count'), `${WORKSPACE_FILES} tasks`);
    assert.equal(await frame.locator('#table-rows .table-row').count(), WORKSPACE_FILES);
    assert.deepEqual(new Set(await frame.locator('#table-rows .badge').allTextContents()), new Set(['succeeded']));
    assert.deepEqual(new Set(await frame.locator('#table-rows .table-row > span:nth-child(3)').allTextContents()), new Set(['echo']), 'the run\'s engine');
    // Durations come from the task table, read once the run has ended; formatted as the dashboard does.
    await frame.waitForFunction(() => [...document.querySelectorAll('#table-rows .table-row > span:nth-child(5)')].every((cell) => /^\d+(\.\d)?s$/.test(cell.textContent)));
    await frame.locator('[data-sort="duration"]').click();
    await frame.waitForFunction(() => document.querySelector('[data-sort="duration"]')?.getAttribute('aria-sort') === 'descending');
    await frame.locator('.stat[data-state="failed"]').click();
    await frame.waitForFunction(() => document.getElementById('table-count')?.textContent?.startsWith('0 of '));
    assert.equal(await frame.locator('#table-empty').isVisible(), true);
    await frame.locator('.stat[data-state="failed"]').click();
    await frame.waitForFunction((n) => document.getElementById('table-count')?.textContent === `${n} tasks`, WORKSPACE_FILES);
    // The states' colours: the dashboard's hues, running and cancelled far apart.
    const colours = await frame.evaluate(() =>
      Object.fromEntries(['running', 'cancelled', 'succeeded', 'failed'].map((state) => [state, document.defaultView.getComputedStyle(document.querySelector(`.stat[data-state="${state}"] .swatch`)).backgroundColor])),
    );
    assert.equal(new Set(Object.values(colours)).size, 4, JSON.stringify(colours));
    assert.ok(await frame.evaluate(() => document.querySelector('#bar [data-state="succeeded"]').getBoundingClientRect().width > 0), 'the progress bar is drawn');
    await statusBar().filter({ hasText: 'ParallelAI' }).waitFor({ timeout: STEP_MS });
  });

  it('keeps the token out of the webview, under a strict CSP', { timeout: STEP_MS }, async () => {
    const frame = await panelFrame(firstRun.id);
    assert.ok(!(await frame.content()).includes(daemon.token), 'the token reached the webview');
    const csp = await frame.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(csp, /unsafe-inline|connect-src/);
  });

  it('lists the run and its tasks, in the run\'s order, in the Runs view', { timeout: STEP_MS }, async () => {
    await page.locator('.monaco-list-row', { hasText: `succeeded · ${WORKSPACE_FILES}/${WORKSPACE_FILES}` }).first().waitFor({ timeout: STEP_MS });
    const tasks = await daemon.api(`/v1/runs/${firstRun.id}/tasks`);
    const rows = page.locator('.monaco-list-row[aria-level="2"]');
    await eventually('every task row', async () => (await rows.count()) === tasks.length, WAIT_MS);
    const shown = await rows.evaluateAll((elements) => elements.map((element) => element.querySelector('.label-name')?.textContent));
    assert.deepEqual(shown, tasks.map((task) => task.id));
  });

  it('starts code_review with parameters from "Run Template…", and cancels it from the Cancel button in its panel', { timeout: STEP_MS }, async () => {
    await runCommand('ParallelAI: Run Template…');
    await answer('ParallelAI: Run Template', 'code_review');
    // Other parameters make other prompts: the daemon cannot answer them from its cache.
    await answer('ParallelAI: code_review parameters', '{"max_findings": 5}');
    const second = await newestRun(firstRun.id);
    secondRun = second;
    const frame = await panelFrame(second.id);
    await frame.waitForFunction(() => document.getElementById('cancel')?.disabled === false, undefined, { timeout: STEP_MS });
    await frame.locator('#cancel').click();
    await frame.waitForFunction(() => ['cancelled', 'succeeded'].includes(document.getElementById('run-state')?.textContent), undefined, { timeout: STEP_MS });
    assert.equal(await frame.textContent('#run-state'), 'cancelled', 'the run ended before the cancel reached it');
    assert.equal((await daemon.api(`/v1/runs/${second.id}`)).state, 'cancelled');
    await page.locator('.monaco-list-row', { hasText: 'cancelled · ' }).first().waitFor({ timeout: STEP_MS });
  });

  it('retries the cancelled run from the Retry button in its panel, which follows it again to success', { timeout: STEP_MS }, async () => {
    const frame = await panelFrame(secondRun.id);
    await frame.waitForFunction(() => document.getElementById('retry')?.hidden === false, undefined, { timeout: STEP_MS });
    await frame.locator('#retry').click();
    await frame.waitForFunction(() => document.getElementById('run-state')?.textContent === 'succeeded', undefined, { timeout: STEP_MS });
    const run = await daemon.api(`/v1/runs/${secondRun.id}`);
    assert.equal(run.state, 'succeeded');
    assert.equal(run.counts.cancelled, 0);
    assert.equal(await frame.textContent('#count-cancelled'), '0');
    assert.equal(await frame.textContent('#count-succeeded'), String(run.total));
    assert.equal(await frame.locator('#retry').isHidden(), true);
    await page.locator('.monaco-list-row', { hasText: `succeeded · ${run.total}/${run.total}` }).nth(1).waitFor({ timeout: STEP_MS });
  });

  it('shows the first run again from "Show Runs", and opens the dashboard from its panel through a one-time link', { timeout: STEP_MS }, async () => {
    // The panel was hidden behind the second one, so its webview is rebuilt and sent everything again.
    await runCommand('ParallelAI: Show Runs');
    await answer('ParallelAI: Show Runs', firstRun.id);
    const frame = await panelFrame(firstRun.id);
    await frame.waitForFunction(() => document.getElementById('run-state')?.textContent === 'succeeded', undefined, { timeout: WAIT_MS });
    const opened = page.context().waitForEvent('page', { timeout: WAIT_MS });
    await frame.locator('#dashboard').click();
    const dashboard = await opened;
    await dashboard.waitForURL(`${daemon.url}/`, { timeout: WAIT_MS }); // /login?code=… redirected, the cookie set
    const visited = [];
    dashboard.on('framenavigated', (navigated) => visited.push(navigated.url()));
    await dashboard.locator('body').waitFor();
    assert.ok(!dashboard.url().includes(daemon.token));
    assert.ok(visited.every((url) => !url.includes(daemon.token)));
    const runs = await dashboard.evaluate(async () => (await fetch('/v1/runs')).status);
    assert.equal(runs, 200, 'the one-time link logged the browser in');
    await dashboard.close();
  });

  it('brings the run panel back when the window reloads, and fills it in once connected', { timeout: STEP_MS }, async () => {
    await page.reload();
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_MS });
    // The active panel's tab is back at once; the run is read once the extension is connected
    // again. (The test build keeps no secrets across a reload, so the token is given again.) Which
    // of the two panels comes back active is the workbench's last saved layout, not the extension's.
    const tab = page.locator('.tab', { hasText: new RegExp(`Run (${firstRun.id}|${secondRun.id})`) }).first();
    await tab.waitFor({ timeout: STEP_MS });
    const restored = (await tab.textContent()).match(/Run (\S+)/)[1];
    await statusBar().waitFor({ timeout: STEP_MS });
    await eventually('a restored panel that says it is disconnected', async () => {
      for (const frame of page.frames()) {
        const shown = await frame.evaluate(() => document.getElementById('connection')?.textContent).catch(() => undefined);
        if (shown === 'disconnected') {
          return true;
        }
      }
      return false;
    }, WAIT_MS);
    await runCommand('ParallelAI: Connect to Daemon');
    await answer('Connect to Daemon (1/2)', daemon.url);
    await answer('Connect to Daemon (2/2)', daemon.token);
    const frame = await panelFrame(restored);
    await frame.waitForFunction(() => document.getElementById('run-state')?.textContent === 'succeeded', undefined, { timeout: WAIT_MS });
    assert.equal(await frame.textContent('#count-succeeded'), String(WORKSPACE_FILES)); // both runs review every file
    assert.equal(await frame.textContent('#connection'), 'live');
  });

  it('shows a failed task\'s error in the panel, and opens the whole task from it', { timeout: STEP_MS }, async () => {
    const shell = (script) => ({ engine_options: { shell: script } });
    const body = {
      name: 'failing',
      engine: 'command',
      workdir: dirs.workspace,
      tasks: [
        { id: 'fail-a', prompt: 'fail', options: shell('echo starting >&2; echo "it broke here" >&2; exit 3') },
        { id: 'ok-b', prompt: 'pass', options: shell('echo fine') },
      ],
    };
    const { id } = await daemon.api('/v1/runs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    await eventually('the failing run to end', async () => (await daemon.api(`/v1/runs/${id}`)).state === 'failed', WAIT_MS);
    await runCommand('ParallelAI: Show Runs');
    await answer('ParallelAI: Show Runs', id);
    const frame = await panelFrame(id);
    const failure = frame.locator('#failures .failure', { hasText: 'fail-a' });
    await failure.waitFor({ timeout: STEP_MS });
    assert.match(await failure.locator('.failure-message').textContent(), /exit code 3: it broke here/);
    assert.equal(await frame.textContent('#failure-count'), '(1)');
    assert.equal(await frame.textContent('#count-failed'), '1');
    assert.equal(await frame.locator('#no-failures').isHidden(), true);
    // The table says it too, and a click on the failed count keeps only that task.
    await frame.locator('.stat[data-state="failed"]').click();
    await frame.waitForFunction(() => document.getElementById('table-count')?.textContent === '1 of 2 tasks');
    assert.match(await frame.textContent('#table-rows .table-row .err'), /exit code 3: it broke here$/);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'vscode-panel-failure.png') });
    await failure.locator('.open-task').click();
    const documentText = page.locator('.editor-instance .view-lines', { hasText: /Task.fail-a/ }).first();
    await documentText.waitFor({ timeout: STEP_MS });
    assert.match((await documentText.textContent()).replaceAll('\u00a0', ' '), /# Task fail-a — failed/);
    // The document opened beside the panel; one editor group again, so later views get the whole width.
    await runCommand('View: Join All Editor Groups');
    await eventually('one editor group', async () => (await page.locator('.editor-group-container').count()) === 1, WAIT_MS);
  });

  it('opens the change a task of an isolated run made in the diff editor, from "Open Diff" on its row', { timeout: STEP_MS }, async () => {
    // A git repository in the workspace (the daemon takes workdirs only under the roots it allows),
    // and a run in it whose agent (the `command` engine) edits a file.
    const repo = join(dirs.workspace, 'repo');
    mkdirSync(repo);
    writeFileSync(join(repo, 'a.txt'), 'a.txt line 1\na.txt line 2\n');
    const git = (...args) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo, stdio: 'ignore' });
    git('init', '--quiet', '--initial-branch=main');
    git('add', '--all');
    git('commit', '--quiet', '-m', 'first');
    const edit = { id: 'edit-a', prompt: 'edit a.txt', options: { engine_options: { shell: "sed -i 's/a.txt line 1/A EDITED/' a.txt" } } };
    const body = { name: 'isolated edits', engine: 'command', workdir: repo, isolation: true, tasks: [edit] };
    const { id } = await daemon.api('/v1/runs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    await eventually('the isolated run to succeed', async () => (await daemon.api(`/v1/runs/${id}`)).state === 'succeeded', WAIT_MS);

    const run = page.locator('.monaco-list-row[aria-level="1"]', { hasText: 'isolated edits' }).first();
    await run.waitFor({ timeout: STEP_MS });
    await run.locator('.monaco-tl-twistie').click();
    // The row says its diffstat once the run's changes are read, and offers Open Diff.
    const task = page.locator('.monaco-list-row[aria-level="2"]', { hasText: 'edit-a' }).filter({ hasText: '+1 −1' }).first();
    await task.waitFor({ timeout: STEP_MS });
    await task.hover();
    await task.locator('.action-label[aria-label="Open Diff"]').click({ timeout: WAIT_MS });
    const diff = page.locator('.monaco-diff-editor').first();
    await diff.waitFor({ timeout: STEP_MS });
    await page.locator('.tab', { hasText: 'a.txt (base ↔ edit-a)' }).first().waitFor({ timeout: WAIT_MS });
    // Monaco draws spaces as no-break spaces.
    const side = async (which) => (await diff.locator(`.editor.${which} .view-lines`).textContent())?.replaceAll('\u00a0', ' ') ?? '';
    await eventually('both sides of the change in the diff editor', async () => {
      const [original, modified] = [await side('original'), await side('modified')];
      return original.includes('a.txt line 1') && !original.includes('A EDITED') && modified.includes('A EDITED') && modified.includes('a.txt line 2');
    }, WAIT_MS);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'vscode-diff.png') });
  });

  it('answers "Cancel Run" when nothing is going', { timeout: STEP_MS }, async () => {
    await runCommand('ParallelAI: Cancel Run');
    await notification('ParallelAI: no run is going.');
  });

  it('leaves a screenshot of the panel', { timeout: STEP_MS }, async () => {
    await page.evaluate(() => document.querySelector('.notifications-toasts')?.remove());
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'vscode-panel.png') });
    // The docs show the run half-way, which says more than a finished one.
    const docsShot = join(repoRoot, 'docs', 'images', 'vscode-panel.png');
    if (process.env.UPDATE_SCREENSHOT === '1' || !existsSync(docsShot)) {
      mkdirSync(join(repoRoot, 'docs', 'images'), { recursive: true });
      copyFileSync(join(artifacts, 'vscode-panel-live.png'), docsShot);
    }
    assert.deepEqual(pageErrors.filter((message) => /parallelai/i.test(message)), []);
  });
});
