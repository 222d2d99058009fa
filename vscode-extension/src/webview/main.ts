/**
 * The run panel's script, inside the webview. It renders what the extension host posts and asks
 * it for actions; it has no token and no network. Text from the daemon only ever goes into
 * `textContent`, never into HTML.
 */

import { TASK_STATES, type TaskState } from '../common/daemon/types';
import { firstLines, formatClock, formatMoney, formatSeconds, formatShort } from '../common/panel/format';
import { parseHostMessage, type PanelRestoreState, type WebviewMessage } from '../common/panel/messages';
import { initialPanelState, panelView, reducePanel, type PanelState, type PanelView } from '../common/panel/state';
import type { TaskView } from '../common/runs/runView';
import { TaskTable } from './taskTable';

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
/** Failures listed in full; a run with more has the table for the rest. */
const MAX_FAILURES = 100;
const table = new TaskTable(
  {
    scroll: element('table-scroll'),
    spacer: element('table-spacer'),
    rows: element('table-rows'),
    empty: element('table-empty'),
    count: element('table-count'),
    search: element('table-search') as HTMLInputElement,
    state: element('table-state') as HTMLSelectElement,
    head: element('table-head'),
  },
  schedule,
);

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
  renderBar(view);
  setText('done', `${view.finished} / ${view.total} done`);
  setText('cost', formatMoney(view.usage.cost_usd));
  setText('tokens', formatShort(view.usage.input_tokens + view.usage.output_tokens));
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
    const stat = element(`count-${taskState}`).parentElement;
    // A state with no task is quiet, unless the table is filtered by it.
    stat?.classList.toggle('zero', view.counts[taskState] === 0 && table.filter !== taskState);
    stat?.setAttribute('aria-pressed', String(table.filter === taskState));
  }
  const note = element('note');
  note.hidden = view.note === null;
  note.textContent = view.note ?? '';
  renderGrid(view.tasks);
  table.setTasks(view.tasks);
  table.render();
  renderFailures(view);
}

/** One bar, a segment per state in the state's colour, as long as its share of the tasks. */
function renderBar(view: PanelView): void {
  const total = Math.max(1, view.total);
  for (const segment of element('bar').children) {
    if (segment instanceof HTMLElement) {
      const count = (view.counts as Partial<Record<string, number>>)[segment.dataset.state ?? ''] ?? 0;
      const width = `${((100 * count) / total).toFixed(3)}%`;
      if (segment.style.width !== width) {
        segment.style.width = width; // CSSOM, which the CSP allows: no inline style attribute
      }
      segment.title = `${count} ${segment.dataset.state ?? ''}`;
    }
  }
  element('bar').setAttribute('aria-label', TASK_STATES.filter((state) => view.counts[state] > 0).map((state) => `${view.counts[state]} ${state}`).join(', '));
}

function renderElapsed(startedAt: number, finishedAt: number | null): void {
  const end = finishedAt ?? Date.now() / 1000;
  setText('elapsed', formatSeconds(end - startedAt));
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
    const again = task.state === 'retrying' && task.retry_at !== null ? ` · runs again at ${formatClock(task.retry_at)}` : '';
    const label = `${task.id}: ${task.state}${attempts}${again}${task.error === null ? '' : ` — ${task.error}`}`;
    if (cell.title !== label) {
      cell.title = label;
      cell.setAttribute('aria-label', label);
    }
  }
}

/** Each failed task: its id, how many attempts, the first lines of its error, and a way to the whole task. */
function renderFailures(view: PanelView): void {
  element('no-failures').hidden = view.failures.length > 0;
  setText('failure-count', view.failures.length > 0 ? `(${view.failures.length})` : '');
  const list = element('failures');
  const attempts = new Map(view.tasks.map((task) => [task.id, task.attempts]));
  const wanted = view.failures.map((failure) => `${failure.taskId}\u0000${attempts.get(failure.taskId) ?? 0}\u0000${failure.message}`).join('\n');
  if (list.dataset.content === wanted) {
    return;
  }
  list.dataset.content = wanted;
  const hidden = view.failures.length - MAX_FAILURES;
  list.replaceChildren(
    ...view.failures.slice(0, MAX_FAILURES).map((failure) => {
      const item = document.createElement('li');
      item.className = 'failure';
      const head = document.createElement('div');
      head.className = 'failure-head';
      const id = document.createElement('button');
      id.type = 'button';
      id.className = 'link mono';
      id.dataset.task = failure.taskId;
      id.textContent = failure.taskId;
      head.append(id);
      const tries = attempts.get(failure.taskId) ?? 0;
      if (tries > 1) {
        const note = document.createElement('span');
        note.className = 'muted';
        note.textContent = `after ${tries} attempts`;
        head.append(note);
      }
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'secondary small open-task';
      open.dataset.task = failure.taskId;
      open.textContent = 'Open task';
      open.title = 'the whole task: prompt, error, answer and every attempt';
      head.append(open);
      const excerpt = firstLines(failure.message);
      const message = document.createElement('pre');
      message.className = 'failure-message mono';
      message.textContent = excerpt.text;
      message.title = failure.message;
      item.append(head, message);
      if (excerpt.more > 0) {
        const more = document.createElement('div');
        more.className = 'muted more';
        more.textContent = `${excerpt.more} more line${excerpt.more === 1 ? '' : 's'} in the task`;
        item.append(more);
      }
      return item;
    }),
  );
  if (hidden > 0) {
    const rest = document.createElement('li');
    rest.className = 'muted more';
    rest.textContent = `${hidden} more: the table shows them all (filter it by failed)`;
    list.append(rest);
  }
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

// A click on a state's count shows only that state in the table; a second click shows all again.
element('counts').addEventListener('click', (event) => {
  const stat = event.target instanceof Element ? event.target.closest<HTMLElement>('.stat.count') : null;
  const taskState = stat?.dataset.state as TaskState | undefined;
  if (taskState !== undefined) {
    table.update({ state: table.filter === taskState ? '' : taskState });
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
