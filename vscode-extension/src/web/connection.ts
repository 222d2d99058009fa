/**
 * The web build's connector: the daemon's URL and token, given once with "ParallelAI: Connect to
 * Daemon" and kept together in VS Code's secret storage, so the token is only ever sent to the
 * URL it was given for. The `parallelai.daemonUrl` / `parallelai.daemonToken` settings are a
 * plain-text fallback for tests and kiosks.
 */

import * as vscode from 'vscode';
import type { Connector } from '../common/connector';
import type { DaemonApi } from '../common/daemon/api';
import { HttpDaemonApi, type Credentials } from '../common/daemon/httpApi';
import { isRecord } from '../common/daemon/validate';
import { readSettings } from '../common/settings';
import type { Logger } from '../common/util/logger';

export const SECRET_KEY = 'parallelai.daemon';
const DEFAULT_URL = 'http://127.0.0.1:8787';

/** `scheme://host:port[/path]` without a trailing slash, or undefined when it is not an http(s) URL. */
export function normalDaemonUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    return undefined;
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

export function parseCredentials(value: unknown): Credentials | undefined {
  if (!isRecord(value) || typeof value.url !== 'string' || typeof value.token !== 'string' || value.token.trim() === '') {
    return undefined;
  }
  const url = normalDaemonUrl(value.url);
  return url === undefined ? undefined : { url, token: value.token.trim() };
}

export class WebConnector implements Connector {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly log: Logger,
  ) {}

  async start(): Promise<DaemonApi | undefined> {
    const stored = await this.stored();
    if (stored !== undefined) {
      this.log.info(`connecting to the daemon at ${stored.url} (token from the secret storage)`);
      return this.api(stored);
    }
    const settings = readSettings();
    const fromSettings = parseCredentials({ url: settings.daemonUrl, token: settings.daemonToken });
    if (fromSettings !== undefined) {
      this.log.info(`connecting to the daemon at ${fromSettings.url} (token from the settings)`);
      return this.api(fromSettings);
    }
    return undefined;
  }

  /** `args` may be `{url, token}` (for automation); otherwise the user is asked for both. */
  async connect(args?: unknown): Promise<DaemonApi | undefined> {
    const credentials = parseCredentials(args) ?? (await this.ask());
    if (credentials === undefined) {
      return undefined;
    }
    const api = this.api(credentials);
    const health = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ParallelAI: connecting to ${credentials.url}…` },
      () => api.health(),
    );
    await this.secrets.store(SECRET_KEY, JSON.stringify(credentials));
    this.log.info(`connected to daemon ${health.version} at ${credentials.url}`);
    return api;
  }

  async forget(): Promise<void> {
    await this.secrets.delete(SECRET_KEY);
  }

  dispose(): void {
    // Nothing to release: requests end with the extension host.
  }

  private api(credentials: Credentials): HttpDaemonApi {
    return new HttpDaemonApi(() => Promise.resolve(credentials), { description: credentials.url });
  }

  private async stored(): Promise<Credentials | undefined> {
    const text = await this.secrets.get(SECRET_KEY);
    if (text === undefined) {
      return undefined;
    }
    try {
      return parseCredentials(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  private async ask(): Promise<Credentials | undefined> {
    const previous = (await this.stored())?.url ?? normalDaemonUrl(readSettings().daemonUrl) ?? DEFAULT_URL;
    const url = await vscode.window.showInputBox({
      title: 'ParallelAI: Connect to Daemon (1/2)',
      prompt: 'The daemon\'s URL: what `parallelai serve` printed, or "url" in its daemon.json',
      value: previous,
      ignoreFocusOut: true,
      validateInput: (text) => (normalDaemonUrl(text) === undefined ? 'Give an http:// or https:// URL' : undefined),
    });
    if (url === undefined) {
      return undefined;
    }
    const token = await vscode.window.showInputBox({
      title: 'ParallelAI: Connect to Daemon (2/2)',
      prompt: 'The daemon\'s token: "token" in its daemon.json (kept in VS Code\'s secret storage)',
      password: true,
      ignoreFocusOut: true,
      validateInput: (text) => (text.trim() === '' ? 'The token is required' : undefined),
    });
    if (token === undefined) {
      return undefined;
    }
    return parseCredentials({ url, token });
  }
}
