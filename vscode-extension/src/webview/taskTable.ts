/**
 * The run panel's task table in the DOM: a header to sort by, a state filter, a search, and rows
 * drawn only where the scroller shows them, so a run of thousands of tasks scrolls smoothly.
 * Which rows, in what order, is `tableRows` (pure, tested); this file only draws them.
 */

import { TASK_STATES, type TaskState } from '../common/daemon/types';
import { formatMoney, formatSeconds } from '../common/panel/format';
import { DEFAULT_QUERY, SORT_KEYS, tableRows, toggleSort, type SortKey, type TableQuery } from '../common/panel/table';
import type { TaskView } from '../common/runs/runView';

const ROW_HEIGHT = 26; // px; the same as `.table-row` in panel.css
const OVERSCAN = 8;
const FINAL: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'cancelled', 'skipped']);

export class TaskTable {
  private query: TableQuery = DEFAULT_QUERY;
  private tasks: readonly TaskView[] = [];
  private rows: TaskView[] = [];
  private dirty = true;

  constructor(
    private readonly elements: {
      scroll: HTMLElement;
      spacer: HTMLElement;
      rows: HTMLElement;
      empty: HTMLElement;
      count: HTMLElement;
      search: HTMLInputElement;
      state: HTMLSelectElement;
      head: HTMLElement;
    },
    /** Asks for a redraw (the next animation frame). */
    private readonly invalidate: () => void,
  ) {
    elements.search.addEventListener('input', () => this.update({ search: elements.search.value }));
    elements.state.addEventListener('change', () => this.update({ state: asState(elements.state.value) }));
    elements.head.addEventListener('click', (event) => {
      const key = event.target instanceof Element ? event.target.closest<HTMLElement>('[data-sort]')?.dataset.sort : undefined;
      if (key !== undefined && (SORT_KEYS as readonly string[]).includes(key)) {
        this.query = toggleSort(this.query, key as SortKey);
        this.changed();
      }
    });
    let frame = 0;
    elements.scroll.addEventListener('scroll', () => {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        this.drawRows();
      });
    });
  }

  get filter(): TaskState | '' {
    return this.query.state;
  }

  /** Shows only tasks in `state` (`''`: all). */
  update(change: Partial<Pick<TableQuery, 'state' | 'search'>>): void {
    this.query = { ...this.query, ...change };
    this.elements.state.value = this.query.state;
    this.changed();
  }

  setTasks(tasks: readonly TaskView[]): void {
    if (tasks !== this.tasks) {
      this.tasks = tasks;
      this.dirty = true;
    }
  }

  render(): void {
    if (this.dirty) {
      this.dirty = false;
      this.rows = tableRows(this.tasks, this.query);
      const { count, empty, spacer, head } = this.elements;
      const total = this.tasks.length;
      count.textContent = this.rows.length === total ? `${total} tasks` : `${this.rows.length} of ${total} tasks`;
      empty.hidden = this.rows.length > 0 || total === 0;
      spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`;
      for (const button of head.querySelectorAll<HTMLElement>('[data-sort]')) {
        if (button.dataset.sort === this.query.sort) {
          button.setAttribute('aria-sort', this.query.dir === 1 ? 'ascending' : 'descending');
        } else {
          button.removeAttribute('aria-sort');
        }
      }
    }
    this.drawRows();
  }

  private changed(): void {
    this.dirty = true;
    this.invalidate();
  }

  private drawRows(): void {
    const { scroll, rows: box } = this.elements;
    const height = scroll.clientHeight || 420;
    const first = Math.max(0, Math.floor(scroll.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((scroll.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    const count = Math.max(0, last - first);
    box.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    while (box.childElementCount < count) {
      box.append(newRow());
    }
    while (box.childElementCount > count) {
      box.lastElementChild?.remove();
    }
    for (let i = 0; i < count; i++) {
      const task = this.rows[first + i];
      const row = box.children[i];
      if (task !== undefined && row instanceof HTMLElement) {
        fillRow(row, task);
      }
    }
  }
}

function asState(value: string): TaskState | '' {
  return (TASK_STATES as readonly string[]).includes(value) ? (value as TaskState) : '';
}

function span(className = ''): HTMLSpanElement {
  const cell = document.createElement('span');
  cell.className = className;
  return cell;
}

function newRow(): HTMLElement {
  const row = document.createElement('div');
  row.className = 'table-row';
  row.setAttribute('role', 'row');
  const id = document.createElement('button');
  id.type = 'button';
  id.className = 'link mono';
  const idCell = span();
  idCell.append(id);
  const stateCell = span();
  stateCell.append(span('badge'));
  row.append(idCell, stateCell, span(), span('num'), span('num'), span('num'), span());
  return row;
}

function fillRow(row: HTMLElement, task: TaskView): void {
  if (row.dataset.key === rowKey(task)) {
    return; // unchanged: no layout
  }
  row.dataset.key = rowKey(task);
  row.dataset.task = task.id;
  row.dataset.state = task.state;
  const [idCell, stateCell, engine, attempts, duration, cost, why] = row.children as unknown as HTMLElement[];
  const id = idCell?.firstElementChild as HTMLButtonElement;
  id.textContent = task.id;
  id.title = `${task.id}: open the task`;
  const badge = stateCell?.firstElementChild as HTMLElement;
  badge.textContent = task.state;
  badge.className = `badge state-${task.state}`;
  setCell(engine, task.engine ?? '\u2013');
  setCell(attempts, task.attempts > 0 ? String(task.attempts) : '');
  setCell(duration, task.duration_s === null ? '' : formatSeconds(task.duration_s));
  setCell(cost, FINAL.has(task.state) || task.usage.cost_usd > 0 ? formatMoney(task.usage.cost_usd) : '');
  const text = task.error ?? '';
  setCell(why, text.split('\n', 1)[0] ?? '');
  if (why !== undefined) {
    why.title = text;
    why.className = task.state === 'failed' ? 'err' : 'muted';
  }
}

function setCell(cell: HTMLElement | undefined, text: string): void {
  if (cell !== undefined && cell.textContent !== text) {
    cell.textContent = text;
  }
}

function rowKey(task: TaskView): string {
  return [task.id, task.state, task.engine, task.attempts, task.duration_s, task.usage.cost_usd, task.error].join('\u0000');
}
