/** The Runs view: runs, newest first, each with its tasks; redrawn as the daemon's events arrive. */

import * as vscode from 'vscode';
import type { RunChanges, RunState, TaskChangeOut, TaskState } from './daemon/types';
import { changeDescription, changeSummary, outcomeWords, plusMinus } from './runs/changes';
import type { RunsController } from './runs/controller';
import type { RunsChange } from './runs/runsModel';
import {
  clockTime,
  countsOf,
  formatCost,
  formatDuration,
  isActive,
  retryableCount,
  runLabel,
  tasksOf,
  usageOf,
  type RunView,
  type TaskView,
} from './runs/runView';

export type RunsNode = { kind: 'run'; runId: string } | { kind: 'task'; runId: string; taskId: string };

interface Icon {
  id: string;
  color?: string;
}

const TASK_ICONS: Record<TaskState, Icon> = {
  pending: { id: 'circle-outline' },
  ready: { id: 'clock', color: 'charts.blue' },
  running: { id: 'sync~spin', color: 'charts.yellow' },
  retrying: { id: 'history', color: 'charts.orange' },
  interrupted: { id: 'debug-pause', color: 'charts.purple' },
  succeeded: { id: 'pass', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  cancelled: { id: 'circle-slash', color: 'charts.orange' },
  skipped: { id: 'debug-step-over', color: 'disabledForeground' },
};

const RUN_ICONS: Record<RunState, Icon> = {
  pending: { id: 'clock' },
  running: { id: 'sync~spin', color: 'charts.yellow' },
  succeeded: { id: 'pass-filled', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  cancelled: { id: 'circle-slash', color: 'charts.orange' },
  interrupted: { id: 'debug-pause', color: 'charts.orange' },
};

/** A state from a newer daemon that this version does not know. */
const UNKNOWN_ICON: Icon = { id: 'question' };

export function taskStateIcon(state: TaskState): Icon {
  return (TASK_ICONS as Partial<Record<string, Icon>>)[state] ?? UNKNOWN_ICON;
}

export function runStateIcon(state: RunState): Icon {
  return (RUN_ICONS as Partial<Record<string, Icon>>)[state] ?? UNKNOWN_ICON;
}

function themeIcon(icon: Icon): vscode.ThemeIcon {
  return icon.color === undefined ? new vscode.ThemeIcon(icon.id) : new vscode.ThemeIcon(icon.id, new vscode.ThemeColor(icon.color));
}

/**
 * "running · 3/10 · 1 retrying · 1 failed · $0.02": the state, tasks succeeded of all, tasks waiting
 * to retry or cut off, what went wrong, the cost.
 */
export function runDescription(run: RunView): string {
  const counts = countsOf(run);
  const parts = [run.state, `${counts.succeeded}/${Math.max(run.total, run.order.length)}`];
  for (const state of ['retrying', 'interrupted', 'failed', 'cancelled', 'skipped'] as const) {
    if (counts[state] > 0) {
      parts.push(`${counts[state]} ${state}`);
    }
  }
  parts.push(formatCost(usageOf(run).cost_usd));
  return parts.join(' · ');
}

export function taskDescription(task: TaskView, change?: TaskChangeOut): string {
  const parts: string[] = [task.state];
  if (task.attempts > 1) {
    parts.push(`attempt ${task.attempts}`);
  }
  if (task.state === 'retrying' && task.retry_at !== null) {
    parts.push(`again at ${clockTime(task.retry_at)}`);
  }
  if (task.duration_s !== null && task.state !== 'running') {
    parts.push(formatDuration(task.duration_s));
  }
  if (task.usage.cost_usd > 0) {
    parts.push(formatCost(task.usage.cost_usd));
  }
  if (change !== undefined) {
    parts.push(changeDescription(change));
  }
  return parts.join(' · ');
}

/** `run.active` (cancel offered), `run.retryable` (finished with tasks to retry) or `run.finished`. */
export function runContext(run: RunView): string {
  if (isActive(run)) {
    return 'run.active';
  }
  return retryableCount(run) > 0 ? 'run.retryable' : 'run.finished';
}

export function runTreeItem(run: RunView, changes?: RunChanges): vscode.TreeItem {
  const item = new vscode.TreeItem(runLabel(run), vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `run:${run.id}`;
  item.description = runDescription(run);
  item.iconPath = themeIcon(runStateIcon(run.state));
  item.contextValue = runContext(run);
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.appendMarkdown(`**${escapeMarkdown(runLabel(run))}** — ${run.state}\n\n`);
  tooltip.appendMarkdown(`run \`${run.id}\`, ${run.strategy}, started ${new Date(run.created_at * 1000).toLocaleString()}\n\n`);
  if (run.executed_by !== null) {
    tooltip.appendMarkdown(`executed by ${escapeMarkdown(run.executed_by)}\n\n`);
  }
  const counts = countsOf(run);
  tooltip.appendMarkdown(
    (Object.entries(counts) as [TaskState, number][])
      .filter(([, count]) => count > 0)
      .map(([state, count]) => `${count} ${state}`)
      .join(', '),
  );
  if (run.note !== null || run.budget !== null) {
    tooltip.appendMarkdown(`\n\n${escapeMarkdown(run.budget ?? run.note ?? '')}`);
  }
  if (changes !== undefined) {
    tooltip.appendMarkdown(`\n\n${branchSummary(changes)}`);
  }
  item.tooltip = tooltip;
  item.command = { command: 'parallelai.openRun', title: 'Show Run Progress', arguments: [run.id] };
  return item;
}

/**
 * A task's row. One of an isolated run with a captured change also says its diffstat, and offers
 * "Open Diff" (its context value ends in `.diff`).
 */
export function taskTreeItem(runId: string, task: TaskView, change?: TaskChangeOut): vscode.TreeItem {
  const item = new vscode.TreeItem(task.id, vscode.TreeItemCollapsibleState.None);
  item.id = `task:${runId}:${task.id}`;
  item.description = taskDescription(task, change);
  item.iconPath = themeIcon(taskStateIcon(task.state));
  item.contextValue = change === undefined ? `task.${task.state}` : `task.${task.state}.diff`;
  const text = task.error === null ? `${task.id}: ${task.state}` : `${task.id}: ${task.state}\n${task.error}`;
  if (change === undefined) {
    item.tooltip = text;
  } else {
    const tooltip = new vscode.MarkdownString();
    tooltip.appendMarkdown(`**${escapeMarkdown(task.id)}**: ${task.state}\n\n`);
    if (task.error !== null) {
      tooltip.appendMarkdown(`${escapeMarkdown(task.error)}\n\n`);
    }
    tooltip.appendMarkdown(changeMarkdown(change));
    item.tooltip = tooltip;
  }
  item.command = { command: 'parallelai.showTask', title: 'Show Task', arguments: [runId, task.id] };
  return item;
}

/** "merged as `e804739`: 1 file changed, +1 −1", then a diffstat table. */
export function changeMarkdown(change: TaskChangeOut): string {
  const commit = change.commit === null ? '' : ` as \`${change.commit.slice(0, 12)}\``;
  const lines = [`${outcomeWords(change.outcome)}${commit}: ${changeSummary(change.files, change)}`, ''];
  if (change.files.length > 0) {
    lines.push('| file | changes |', '|---|---:|');
    for (const file of change.files) {
      lines.push(`| ${escapeMarkdown(file.path)} | ${file.binary ? 'binary' : plusMinus(file)} |`);
    }
  }
  return lines.join('\n');
}

/** "branch `parallelai/RUN`: 2 tasks merged, 3 files changed, +10 −2 — `parallelai apply RUN`". */
export function branchSummary(changes: RunChanges): string {
  const merged = changes.tasks.filter((change) => change.outcome === 'merged');
  const paths = new Set(merged.flatMap((change) => change.files.map((file) => file.path)));
  const insertions = merged.reduce((sum, change) => sum + change.insertions, 0);
  const deletions = merged.reduce((sum, change) => sum + change.deletions, 0);
  const tasks = `${merged.length} ${merged.length === 1 ? 'task' : 'tasks'} merged`;
  const files = `${paths.size} ${paths.size === 1 ? 'file' : 'files'} changed, ${plusMinus({ insertions, deletions })}`;
  return `branch \`${changes.branch}\`: ${tasks}, ${files} — take it with \`parallelai apply ${changes.run_id}\``;
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | RunsNode[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly runNodes = new Map<string, RunsNode & { kind: 'run' }>();
  private readonly subscription: { dispose(): void };
  private pendingAll = false;
  private readonly pendingRuns = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** @param redrawMs at most one redraw per this many ms, whatever the event rate */
  constructor(
    private readonly controller: RunsController,
    private readonly redrawMs = 250,
  ) {
    this.subscription = controller.model.onDidChange((change) => this.onModelChange(change));
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    const run = this.controller.model.get(node.runId);
    if (run === undefined) {
      return new vscode.TreeItem(node.kind === 'run' ? node.runId : node.taskId);
    }
    const changes = this.controller.changes;
    if (node.kind === 'run') {
      return runTreeItem(run, changes.get(run.id));
    }
    const task = run.tasks[node.taskId];
    return task === undefined ? new vscode.TreeItem(node.taskId) : taskTreeItem(run.id, task, changes.task(run.id, task.id));
  }

  async getChildren(node?: RunsNode): Promise<RunsNode[]> {
    if (node === undefined) {
      return this.controller.model.list().map((run) => this.runNode(run.id));
    }
    if (node.kind === 'task') {
      return [];
    }
    let run = this.controller.model.get(node.runId);
    if (run !== undefined && (!run.tableRead || run.order.length < run.total)) {
      run = (await this.controller.loadRun(node.runId)) ?? run;
    }
    if (run === undefined) {
      return [];
    }
    // The task rows say their changes: read them first (only when tasks finished since).
    const before = this.controller.changes.get(run.id);
    const changes = await this.controller.loadChanges(run.id);
    if (changes !== before) {
      this.onModelChange({ kind: 'runs', ids: new Set([run.id]) }); // the run's own tooltip says them too
    }
    return tasksOf(run).map((task) => ({ kind: 'task', runId: run.id, taskId: task.id }));
  }

  getParent(node: RunsNode): RunsNode | undefined {
    return node.kind === 'task' ? this.runNode(node.runId) : undefined;
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.subscription.dispose();
    this.changed.dispose();
  }

  private runNode(runId: string): RunsNode & { kind: 'run' } {
    let node = this.runNodes.get(runId);
    if (node === undefined) {
      node = { kind: 'run', runId };
      this.runNodes.set(runId, node);
    }
    return node;
  }

  private onModelChange(change: RunsChange): void {
    if (change.kind === 'all') {
      this.pendingAll = true;
    } else {
      for (const id of change.ids) {
        this.pendingRuns.add(id);
      }
    }
    this.timer ??= setTimeout(() => this.redraw(), this.redrawMs);
  }

  private redraw(): void {
    this.timer = undefined;
    if (this.pendingAll) {
      const known = new Set(this.controller.model.list().map((run) => run.id));
      for (const id of this.runNodes.keys()) {
        if (!known.has(id)) {
          this.runNodes.delete(id);
        }
      }
      this.changed.fire(undefined);
    } else if (this.pendingRuns.size > 0) {
      this.changed.fire([...this.pendingRuns].filter((id) => this.runNodes.has(id)).map((id) => this.runNode(id)));
    }
    this.pendingAll = false;
    this.pendingRuns.clear();
  }
}
