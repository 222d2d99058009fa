/**
 * The status-bar item: how many tasks are running across the runs going, and what they cost.
 * Only `running` tasks count as running; tasks waiting out a retry backoff hold no slot.
 */

import * as vscode from 'vscode';
import type { ConnectionStatus, RunsController } from './runs/controller';
import { countsOf, formatCost, isActive, runLabel, usageOf, type RunView } from './runs/runView';

export interface StatusBarText {
  text: string;
  tooltip: string;
  /** The command a click runs. */
  command: string;
  warning: boolean;
}

export function statusBarText(status: ConnectionStatus, runs: readonly RunView[], isWeb: boolean): StatusBarText {
  if (status === 'disconnected') {
    return isWeb
      ? { text: '$(debug-disconnect) ParallelAI', tooltip: 'Not connected to a daemon: click to connect', command: 'parallelai.connect', warning: false }
      : { text: '$(loading~spin) ParallelAI', tooltip: 'Starting the ParallelAI language server', command: 'parallelai.showRuns', warning: false };
  }
  if (status === 'failed') {
    return {
      text: '$(error) ParallelAI',
      tooltip: 'The ParallelAI language server did not start: see the ParallelAI output and the parallelai.serverCommand setting',
      command: 'parallelai.showOutput',
      warning: true,
    };
  }
  if (status === 'unauthorized') {
    return {
      text: '$(warning) ParallelAI',
      tooltip: isWeb
        ? 'The daemon refused the token: run "ParallelAI: Connect to Daemon" with its current token'
        : 'The daemon refused the token; the language server will be asked again',
      command: isWeb ? 'parallelai.connect' : 'parallelai.showRuns',
      warning: true,
    };
  }
  if (status === 'connecting' || status === 'reconnecting' || status === 'closed') {
    return { text: '$(debug-disconnect) ParallelAI', tooltip: `The daemon's event stream is ${status}`, command: 'parallelai.showRuns', warning: status === 'closed' };
  }
  const active = runs.filter(isActive);
  if (active.length === 0) {
    return { text: '$(pulse) ParallelAI', tooltip: 'No run going. Click to show the runs.', command: 'parallelai.showRuns', warning: false };
  }
  let running = 0;
  let queued = 0;
  let cost = 0;
  const lines: string[] = [];
  for (const run of active) {
    const counts = countsOf(run);
    running += counts.running;
    queued += counts.pending + counts.ready;
    const usage = usageOf(run);
    cost += usage.cost_usd;
    const retrying = counts.retrying > 0 ? `, ${counts.retrying} waiting to retry` : '';
    const where = run.executed_by !== null ? ` (${run.executed_by})` : '';
    lines.push(`${runLabel(run)}${where}: ${counts.running} running${retrying}, ${counts.pending + counts.ready} queued, ${formatCost(usage.cost_usd)}`);
  }
  const tasks = running > 0 || queued === 0 ? `${running} running` : `${queued} queued`;
  const runsWord = active.length === 1 ? '1 run' : `${active.length} runs`;
  return {
    text: `$(sync~spin) ${tasks} · ${formatCost(cost)}`,
    tooltip: `${runsWord} going\n${lines.join('\n')}`,
    command: 'parallelai.showRuns',
    warning: false,
  };
}

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('parallelai.status', vscode.StatusBarAlignment.Left, 50);
  private readonly subscriptions: { dispose(): void }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly controller: RunsController,
    private readonly isWeb: boolean,
    private readonly redrawMs = 250,
  ) {
    this.item.name = 'ParallelAI';
    this.subscriptions.push(
      controller.model.onDidChange(() => this.schedule()),
      controller.onDidChangeStatus(() => this.schedule()),
    );
    this.update();
    this.item.show();
  }

  update(): void {
    const { text, tooltip, command, warning } = statusBarText(this.controller.status, this.controller.model.list(), this.isWeb);
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.command = command;
    this.item.backgroundColor = warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    for (const subscription of this.subscriptions) {
      subscription.dispose();
    }
    this.item.dispose();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.update();
    }, this.redrawMs);
  }
}
