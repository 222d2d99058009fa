/**
 * The run panel's script, inside the webview. It renders what the extension host posts and asks
 * it for actions; it has no token and no network. Text from the daemon only ever goes into
 * `textContent`, never into HTML.
 */

import { parseHostMessage, type PanelRestoreState, type WebviewMessage } from '../common/panel/messages';
import { initialPanelState, panelView, reducePanel, type PanelState, type PanelView } from '../common/panel/state';
import { TASK_STATES } from '../common/daemon/types';
import { clockTime, formatCost, formatDuration, formatTokens, type TaskView } from '../common/runs/runView';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  /** Kept by VS Code through a reload of the window, and handed to the panel serializer. */
  setState(state: PanelRestoreState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
let state: PanelState = initialPanelState;
let scheduled = false;
const cells = new Map<string, HTMLButtonElement>();

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`the panel has no #${id}`);
  }
  return found;
}

function setText(id: string, text: string): void {
  const target = element(id);
  if (target.textContent !== text) {
    target.textContent = text;
  }
}

function schedule(): void {
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  }
}

function render(): void {
  setText('connection', state.connection);
  element('connection').dataset.status = state.connection;
  const error = element('error');
  error.hidden = state.error === undefined;
  error.textContent = state.error ?? '';
  if (state.run === undefined) {
    return;
  }
  const view = panelView(state.run);
  document.title = view.title;
  setText('title', view.title);
  setText('run-state', view.state);
  element('run-state').dataset.state = view.state;
  setText('run-id', view.runId);
  const progress = element('progress') as HTMLProgressElement;
  progress.max = Math.max(1, view.total);
  progress.value = view.finished;
  setText('done', `${view.finished} / ${view.total} done`);
  setText('cost', formatCost(view.usage.cost_usd));
  setText('tokens', formatTokens(view.usage.input_tokens + view.usage.output_tokens));
  renderElapsed(view.startedAt, view.finishedAt);
  const cancel = element('cancel') as HTMLButtonElement;
  cancel.disabled = !view.active;
  cancel.hidden = !view.active;
  const retry = element('retry') as HTMLButtonElement;
  retry.hidden = view.retryable === 0;
  retry.disabled = view.retryable === 0;
  retry.title = `Run the ${view.retryable} failed, cancelled or skipped tasks again, with the tasks that depend on them`;
  element('executed-by-fact').hidden = view.executedBy === null;
  setText('executed-by', view.executedBy ?? '–');
  for (const taskState of TASK_STATES) {
    setText(`count-${taskState}`, String(view.counts[taskState]));
  }
  const note = element('note');
  note.hidden = view.note === null;
  note.textContent = view.note ?? '';
  renderGrid(view.tasks);
  renderFailures(view);
}

function renderElapsed(startedAt: number, finishedAt: number | null): void {
  const end = finishedAt ?? Date.now() / 1000;
  setText('elapsed', formatDuration(Math.max(0, end - startedAt)));
}

function renderGrid(tasks: readonly TaskView[]): void {
  const grid = element('grid');
  for (const task of tasks) {
    let cell = cells.get(task.id);
    if (cell === undefined) {
      cell = document.createElement('button');
      cell.type = 'button';
      cell.className = 'cell';
      cell.dataset.task = task.id;
      cell.setAttribute('role', 'listitem');
      cells.set(task.id, cell);
      grid.append(cell);
    }
    if (cell.dataset.state !== task.state) {
      cell.dataset.state = task.state;
      cell.className = `cell state-${task.state}`;
    }
    const attempts = task.attempts > 1 ? ` · attempt ${task.attempts}` : '';
    const again = task.state === 'retrying' && task.retry_at !== null ? ` · runs again at ${clockTime(task.retry_at)}` : '';
    const label = `${task.id}: ${task.state}${attempts}${again}${task.error === null ? '' : ` — ${task.error}`}`;
    if (cell.title !== label) {
      cell.title = label;
      cell.setAttribute('aria-label', label);
    }
  }
}

function renderFailures(view: PanelView): void {
  const section = element('failures-section');
  section.hidden = view.failures.length === 0;
  const list = element('failures');
  const wanted = view.failures.map((failure) => `${failure.taskId}\u0000${failure.message}`).join('\n');
  if (list.dataset.content === wanted) {
    return;
  }
  list.dataset.content = wanted;
  list.replaceChildren(
    ...view.failures.map((failure) => {
      const item = document.createElement('li');
      const link = document.createElement('button');
      link.type = 'button';
      link.className = 'link';
      link.dataset.task = failure.taskId;
      link.textContent = failure.taskId;
      const message = document.createElement('span');
      message.className = 'failure-message';
      message.textContent = failure.message;
      item.append(link, message);
      return item;
    }),
  );
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = parseHostMessage(event.data);
  if (message === undefined) {
    return; // not ours, or malformed: ignored rather than trusted
  }
  state = reducePanel(state, message);
  if (message.type === 'snapshot') {
    vscode.setState({ runId: message.run.id }); // so the panel comes back after a reload
  }
  schedule();
});

document.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest<HTMLElement>('[data-task]') : null;
  const taskId = target?.dataset.task;
  if (taskId !== undefined) {
    vscode.postMessage({ type: 'showTask', taskId });
  }
});

element('cancel').addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
element('retry').addEventListener('click', () => {
  (element('retry') as HTMLButtonElement).disabled = true; // until the run's events say it runs again
  vscode.postMessage({ type: 'retry' });
});
element('dashboard').addEventListener('click', () => vscode.postMessage({ type: 'openDashboard' }));

// The elapsed time moves while the run does.
setInterval(() => {
  if (state.run?.finished_at === null) {
    renderElapsed(state.run.created_at, null);
  }
}, 1000);

vscode.postMessage({ type: 'ready' });
