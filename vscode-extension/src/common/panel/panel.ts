/**
 * The run panel on the extension host's side: one webview per run. The host reads the run, follows
 * its events from the start and posts them in; the token never reaches the webview, whose only
 * way out is the message protocol in `messages.ts`. A panel left open when the window closes is
 * restored by `RunPanels.serializer`: the webview keeps its run's id as its state.
 */

import * as vscode from 'vscode';
import type { DaemonApi } from '../daemon/api';
import { errorMessage } from '../daemon/errors';
import type { DaemonEvent } from '../daemon/types';
import type { Logger } from '../util/logger';
import { mergeSnapshot } from '../runs/runView';
import { makeNonce, panelHtml } from './html';
import { parseWebviewMessage, restoredRunId, type HostMessage, type WebviewMessage } from './messages';
import { initialPanelState, reducePanel, type PanelState } from './state';

export const PANEL_VIEW_TYPE = 'parallelai.run';

/** Where a restored panel gets the daemon from: the connection now, or the next one. */
export interface PanelConnection {
  readonly api: DaemonApi | undefined;
  whenConnected(): Promise<DaemonApi>;
}

export interface PanelActions {
  cancel(runId: string): Promise<void>;
  retry(runId: string): Promise<void>;
  showTask(runId: string, taskId: string): Promise<void>;
  openDashboard(): Promise<void>;
}

export class RunPanels implements vscode.Disposable {
  private readonly panels = new Map<string, RunPanel>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly actions: PanelActions,
    private readonly log: Logger,
  ) {}

  /** Shows the run's panel, opening it if needed. */
  show(api: DaemonApi, runId: string): RunPanel {
    const open = this.panels.get(runId);
    if (open !== undefined) {
      open.reveal();
      return open;
    }
    const webviewPanel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      `Run ${runId}`,
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableFindWidget: true },
    );
    return this.adopt(webviewPanel, api, runId);
  }

  /**
   * Brings back the panels of the last session. A panel restored before there is a connection
   * says it is disconnected, and fills in once there is one.
   */
  serializer(connection: PanelConnection): vscode.WebviewPanelSerializer {
    return {
      deserializeWebviewPanel: (webviewPanel: vscode.WebviewPanel, state: unknown): Promise<void> => {
        const runId = restoredRunId(state);
        if (runId === undefined || this.panels.has(runId)) {
          webviewPanel.dispose(); // not ours to show, or its run is open already
        } else {
          this.adopt(webviewPanel, connection.api ?? connection.whenConnected(), runId);
        }
        return Promise.resolve();
      },
    };
  }

  private adopt(webviewPanel: vscode.WebviewPanel, api: DaemonApi | Promise<DaemonApi>, runId: string): RunPanel {
    const panel = new RunPanel(this.extensionUri, webviewPanel, api, runId, this.actions, this.log, () => this.panels.delete(runId));
    this.panels.set(runId, panel);
    return panel;
  }

  get(runId: string): RunPanel | undefined {
    return this.panels.get(runId);
  }

  dispose(): void {
    for (const panel of [...this.panels.values()]) {
      panel.dispose();
    }
  }
}

export class RunPanel implements vscode.Disposable {
  private readonly abort = new AbortController();
  private state: PanelState = initialPanelState;
  private pending: DaemonEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private connected: DaemonApi | undefined;
  /** The run's change counter at the last read of its table folded in: later reads ask only for what changed since. */
  private cursor: number | undefined;
  private ready = false;
  private disposed = false;
  private readonly subscriptions: { dispose(): unknown }[] = [];

  constructor(
    extensionUri: vscode.Uri,
    private readonly panel: vscode.WebviewPanel,
    private readonly api: DaemonApi | Promise<DaemonApi>,
    readonly runId: string,
    private readonly actions: PanelActions,
    private readonly log: Logger,
    private readonly onDispose: () => void,
    private readonly batchMs = 100,
  ) {
    const webviewRoot = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
    const mediaRoot = vscode.Uri.joinPath(extensionUri, 'media');
    // Set here rather than at creation, so that a restored panel is locked down the same way.
    panel.webview.options = { enableScripts: true, localResourceRoots: [webviewRoot, mediaRoot] };
    panel.title = `Run ${runId}`;
    this.panel.iconPath = vscode.Uri.joinPath(mediaRoot, 'parallelai.svg');
    const webview = this.panel.webview;
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(webviewRoot, 'panel.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'panel.css')).toString(),
      title: `Run ${runId}`,
    });
    this.subscriptions.push(
      webview.onDidReceiveMessage((message: unknown) => this.onMessage(message)),
      this.panel.onDidDispose(() => this.dispose()),
    );
    void this.start();
  }

  /** What the panel shows now (tests and the web test read it). */
  get current(): PanelState {
    return this.state;
  }

  reveal(): void {
    this.panel.reveal();
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.abort.abort();
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.onDispose();
    for (const subscription of this.subscriptions) {
      subscription.dispose();
    }
    this.panel.dispose();
  }

  private async start(): Promise<void> {
    if (this.api instanceof Promise) {
      this.send({ type: 'connection', status: 'disconnected' }); // until there is a connection
    }
    let api: DaemonApi;
    try {
      api = await this.api;
    } catch (error) {
      this.send({ type: 'error', message: `Not connected to the daemon: ${errorMessage(error)}` });
      return;
    }
    if (this.disposed) {
      return;
    }
    this.connected = api;
    try {
      const { run, tasks, cursor } = await api.getRun(this.runId);
      this.cursor = cursor;
      this.panel.title = panelTitle(run);
      this.send({ type: 'snapshot', run: mergeSnapshot(undefined, run, tasks), connection: this.state.connection });
    } catch (error) {
      this.send({ type: 'error', message: `Could not read run ${this.runId}: ${errorMessage(error)}` });
      return;
    }
    try {
      // From the run's first event: the replay over the snapshot is idempotent, and it fills in
      // whatever happened between reading the table and the stream starting.
      const events = api.events({
        runId: this.runId,
        after: 0,
        signal: this.abort.signal,
        onStatus: (status) => this.send({ type: 'connection', status }),
      });
      for await (const event of events) {
        this.pending.push(event);
        this.timer ??= setTimeout(() => this.flush(), this.batchMs);
      }
    } catch (error) {
      if (!this.abort.signal.aborted) {
        this.send({ type: 'error', message: `The run's event stream stopped: ${errorMessage(error)}` });
      }
    }
  }

  private flush(): void {
    this.timer = undefined;
    const events = this.pending;
    this.pending = [];
    if (events.length > 0) {
      this.send({ type: 'events', events });
      if (events.some((event) => event.type === 'run.finished')) {
        void this.reread(true); // the tasks' durations and exact costs are in the table, not the events
      } else if (this.state.run?.stale === true) {
        void this.reread(false); // it started again (a retry, a resume): who executes it now
      }
    }
  }

  /**
   * Reads the run again and folds in what only a snapshot says (who executes it now). While it
   * runs the tasks keep coming as events, so its task table is folded in only once it has ended.
   * Over HTTP only the tasks changed since the last table read are read (`changed_after`).
   */
  private async reread(withTasks: boolean): Promise<void> {
    const api = this.connected;
    if (api === undefined || this.state.run === undefined) {
      return;
    }
    try {
      const { run, tasks, cursor, changedOnly } = await api.getRun(this.runId, this.cursor);
      if (withTasks) {
        this.cursor = cursor; // unfolded changes are asked for again next time
      }
      // Read after the await: events may have come in meanwhile (a shown run is never unset).
      const now = this.state.run;
      const merged = mergeSnapshot(now, run, withTasks ? tasks : undefined, changedOnly === true);
      this.send({ type: 'snapshot', run: { ...merged, stale: false }, connection: this.state.connection });
    } catch (error) {
      this.log.warn(`could not read run ${this.runId} again: ${errorMessage(error)}`);
    }
  }

  /** Folds the message into the host's copy of the state, and posts it once the webview listens. */
  private send(message: HostMessage): void {
    if (this.disposed) {
      return;
    }
    this.state = reducePanel(this.state, message);
    if (this.ready) {
      void this.panel.webview.postMessage(message);
    }
  }

  private onMessage(raw: unknown): void {
    const message = parseWebviewMessage(raw);
    if (message === undefined) {
      this.log.warn(`ignored a malformed message from the run panel: ${preview(raw)}`);
      return;
    }
    void this.handle(message);
  }

  private async handle(message: WebviewMessage): Promise<void> {
    try {
      switch (message.type) {
        case 'ready':
          // A (re)loaded webview starts empty: give it everything known so far.
          this.ready = true;
          if (this.state.run !== undefined) {
            void this.panel.webview.postMessage({ type: 'snapshot', run: this.state.run, connection: this.state.connection } satisfies HostMessage);
          } else if (this.state.connection !== initialPanelState.connection) {
            void this.panel.webview.postMessage({ type: 'connection', status: this.state.connection } satisfies HostMessage);
          }
          if (this.state.error !== undefined) {
            void this.panel.webview.postMessage({ type: 'error', message: this.state.error } satisfies HostMessage);
          }
          break;
        case 'cancel':
          await this.actions.cancel(this.runId);
          break;
        case 'retry':
          await this.actions.retry(this.runId);
          break;
        case 'showTask':
          await this.actions.showTask(this.runId, message.taskId);
          break;
        case 'openDashboard':
          await this.actions.openDashboard();
          break;
      }
    } catch (error) {
      this.send({ type: 'error', message: errorMessage(error) });
    }
  }
}

/** "code_review · 48ba": the label, and enough of the id to tell two runs of one template apart. */
export function panelTitle(run: { id: string; name: string | null }): string {
  return run.name === null ? run.id : `${run.name} · ${run.id.slice(-4)}`;
}

function preview(value: unknown): string {
  try {
    return (JSON.stringify(value) as string | undefined)?.slice(0, 200) ?? String(value);
  } catch {
    return typeof value; // a cycle: structured clone allows them, JSON does not
  }
}
