import { describe, expect, it } from 'vitest';
import { DEFAULT_QUERY, tableRows, toggleSort, type TableQuery } from '../../src/common/panel/table';
import { ZERO_USAGE, type TaskView } from '../../src/common/runs/runView';
import type { TaskState } from '../../src/common/daemon/types';

function task(id: string, state: TaskState, more: Partial<TaskView> = {}): TaskView {
  return { id, state, engine: 'echo', attempts: 1, error: null, duration_s: null, usage: { ...ZERO_USAGE }, retry_at: null, ...more };
}

const tasks: TaskView[] = [
  task('review-2', 'succeeded', { duration_s: 12, usage: { ...ZERO_USAGE, cost_usd: 0.02 } }),
  task('review-10', 'failed', { engine: 'claude', duration_s: 3, error: 'exit 2: no such file', usage: { ...ZERO_USAGE, cost_usd: 0.05 } }),
  task('review-1', 'running'),
  task('review-3', 'succeeded', { duration_s: 40, usage: { ...ZERO_USAGE, cost_usd: 0.01 } }),
];
const ids = (query: Partial<TableQuery>): string[] => tableRows(tasks, { ...DEFAULT_QUERY, ...query }).map((row) => row.id);

describe('the task table', () => {
  it('keeps the run\'s own order by id, and turns it round on a second click', () => {
    expect(ids({})).toEqual(['review-2', 'review-10', 'review-1', 'review-3']);
    expect(ids(toggleSort(DEFAULT_QUERY, 'id'))).toEqual(['review-3', 'review-1', 'review-10', 'review-2']);
  });

  it('sorts by duration and cost from the largest first, then the other way round', () => {
    const byDuration = toggleSort(DEFAULT_QUERY, 'duration');
    expect(byDuration).toMatchObject({ sort: 'duration', dir: -1 });
    expect(ids(byDuration)).toEqual(['review-3', 'review-2', 'review-10', 'review-1']);
    expect(ids(toggleSort(byDuration, 'duration'))).toEqual(['review-1', 'review-10', 'review-2', 'review-3']);
    expect(ids(toggleSort(DEFAULT_QUERY, 'cost'))).toEqual(['review-10', 'review-2', 'review-3', 'review-1']);
  });

  it('sorts by state in the lifecycle\'s order and by engine by name, ties in the run\'s order', () => {
    expect(ids(toggleSort(DEFAULT_QUERY, 'state'))).toEqual(['review-1', 'review-2', 'review-3', 'review-10']);
    expect(ids(toggleSort(DEFAULT_QUERY, 'engine'))).toEqual(['review-10', 'review-2', 'review-1', 'review-3']);
  });

  it('filters by state, and searches the id, the engine and the error', () => {
    expect(ids({ state: 'succeeded' })).toEqual(['review-2', 'review-3']);
    expect(ids({ state: 'cancelled' })).toEqual([]);
    expect(ids({ search: 'NO SUCH' })).toEqual(['review-10']);
    expect(ids({ search: ' claude ' })).toEqual(['review-10']);
    expect(ids({ search: 'review-1' })).toEqual(['review-10', 'review-1']);
    expect(ids({ state: 'running', search: 'review-1' })).toEqual(['review-1']);
  });
});
