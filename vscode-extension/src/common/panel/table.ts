/**
 * The run panel's task table as data: which tasks it shows, in what order. Pure, so the webview
 * renders exactly what the tests check.
 */

import { TASK_STATES, type TaskState } from '../daemon/types';
import type { TaskView } from '../runs/runView';

export const SORT_KEYS = ['id', 'state', 'engine', 'duration', 'cost'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface TableQuery {
  /** Only tasks in this state; `''` for all. */
  state: TaskState | '';
  /** Case-insensitive text in the id, engine or error; `''` for all. */
  search: string;
  sort: SortKey;
  /** 1 ascending, -1 descending. */
  dir: 1 | -1;
}

export const DEFAULT_QUERY: TableQuery = Object.freeze({ state: '', search: '', sort: 'id', dir: 1 });

interface Ranked {
  task: TaskView;
  /** Its place in the run's order. */
  rank: number;
}

/** A state from a newer daemon has no rank: it sorts last. */
const STATE_RANK: Partial<Record<string, number>> = Object.fromEntries(TASK_STATES.map((state, index) => [state, index]));

/**
 * A click on a column header: sorts by it, or turns the order round when it sorts by it already.
 * Numbers start with the largest (the slowest, the dearest), names from the start of the alphabet.
 */
export function toggleSort(query: TableQuery, key: SortKey): TableQuery {
  if (query.sort === key) {
    return { ...query, dir: query.dir === 1 ? -1 : 1 };
  }
  return { ...query, sort: key, dir: key === 'duration' || key === 'cost' ? -1 : 1 };
}

/**
 * The rows to show. `tasks` comes in the run's own order, which the id column keeps (task ids
 * such as `review-10` sort wrongly as text) and which breaks every tie.
 */
export function tableRows(tasks: readonly TaskView[], query: TableQuery): TaskView[] {
  const needle = query.search.trim().toLowerCase();
  const has = (text: string | null): boolean => text?.toLowerCase().includes(needle) ?? false;
  const rows: Ranked[] = [];
  tasks.forEach((task, rank) => {
    if (query.state !== '' && task.state !== query.state) {
      return;
    }
    if (needle !== '' && !has(task.id) && !has(task.engine) && !has(task.error)) {
      return;
    }
    rows.push({ task, rank });
  });
  const compare = comparator(query.sort);
  rows.sort((a, b) => compare(a, b) * query.dir || a.rank - b.rank);
  return rows.map((row) => row.task);
}

function comparator(key: SortKey): (a: Ranked, b: Ranked) => number {
  const by = (compare: (a: TaskView, b: TaskView) => number) => (a: Ranked, b: Ranked) => compare(a.task, b.task);
  switch (key) {
    case 'id':
      return (a, b) => a.rank - b.rank;
    case 'state':
      return by((a, b) => (STATE_RANK[a.state] ?? TASK_STATES.length) - (STATE_RANK[b.state] ?? TASK_STATES.length));
    case 'engine':
      return by((a, b) => (a.engine ?? '').localeCompare(b.engine ?? ''));
    case 'duration':
      return by((a, b) => (a.duration_s ?? -1) - (b.duration_s ?? -1)); // none yet: shorter than any
    case 'cost':
      return by((a, b) => a.usage.cost_usd - b.usage.cost_usd);
  }
}
