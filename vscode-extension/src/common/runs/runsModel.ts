/** The runs the extension knows of, kept current from snapshots and the daemon's event stream. */

import type { DaemonEvent, RunOut, TaskOut } from '../daemon/types';
import { Emitter } from '../util/emitter';
import { applyEvents, isActive, mergeSnapshot, type RunView } from './runView';

/** Which runs changed: their ids, or `all` when the list itself changed (runs came or went). */
export type RunsChange = { kind: 'all' } | { kind: 'runs'; ids: ReadonlySet<string> };

export class RunsModel {
  private readonly runs = new Map<string, RunView>();
  private readonly changed = new Emitter<RunsChange>();
  readonly onDidChange = this.changed.event;

  /** Newest first. */
  list(): RunView[] {
    return [...this.runs.values()].sort((a, b) => b.created_at - a.created_at || b.id.localeCompare(a.id));
  }

  get(runId: string): RunView | undefined {
    return this.runs.get(runId);
  }

  active(): RunView[] {
    return this.list().filter(isActive);
  }

  /** Runs whose task table is needed but unknown (a task event arrived for them). */
  stale(): string[] {
    return [...this.runs.values()].filter((run) => run.stale).map((run) => run.id);
  }

  /** The daemon's run list: runs missing from it are forgotten, the others merged. */
  replaceAll(runs: readonly RunOut[]): void {
    const previous = new Map(this.runs);
    this.runs.clear();
    for (const run of runs) {
      this.runs.set(run.id, mergeSnapshot(previous.get(run.id), run));
    }
    this.changed.fire({ kind: 'all' });
  }

  /** One run, with its task table when given (or, with `changedOnly`, the tasks changed since the last read of it). */
  upsert(run: RunOut, tasks?: readonly TaskOut[], changedOnly = false): void {
    const known = this.runs.has(run.id);
    this.runs.set(run.id, mergeSnapshot(this.runs.get(run.id), run, tasks, changedOnly));
    this.changed.fire(known ? { kind: 'runs', ids: new Set([run.id]) } : { kind: 'all' });
  }

  /** A batch of events from the global stream, any runs. */
  apply(events: readonly DaemonEvent[]): void {
    const byRun = new Map<string, DaemonEvent[]>();
    for (const event of events) {
      let batch = byRun.get(event.run_id);
      if (batch === undefined) {
        batch = [];
        byRun.set(event.run_id, batch);
      }
      batch.push(event);
    }
    const ids = new Set<string>();
    let added = false;
    for (const [runId, batch] of byRun) {
      const before = this.runs.get(runId);
      const after = applyEvents(before, batch);
      if (after !== undefined && after !== before) {
        this.runs.set(runId, after);
        ids.add(runId);
        added ||= before === undefined;
      }
    }
    if (added) {
      this.changed.fire({ kind: 'all' });
    } else if (ids.size > 0) {
      this.changed.fire({ kind: 'runs', ids });
    }
  }

  clear(): void {
    this.runs.clear();
    this.changed.fire({ kind: 'all' });
  }

  dispose(): void {
    this.changed.dispose();
  }
}
