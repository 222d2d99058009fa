/**
 * The changes of isolated runs (each task's captured change and what became of it), read from the
 * daemon when a run's tasks have finished since the last read, and the words the views use for them.
 */

import type { DaemonApi } from '../daemon/api';
import type { FileStat, RunChanges, TaskChangeOut } from '../daemon/types';
import { countsOf, type RunView } from './runView';

const OUTCOME_WORDS: Record<string, string> = { merged: 'merged', conflict: 'conflict', outside_scope: 'out of scope' };

/** "merged", "conflict", "out of scope"; an outcome from a newer daemon as it is. */
export function outcomeWords(outcome: string): string {
  return OUTCOME_WORDS[outcome] ?? outcome;
}

/** "+3 −1" (a true minus sign, as the dashboard writes it). */
export function plusMinus(change: { insertions: number; deletions: number }): string {
  return `+${change.insertions} \u2212${change.deletions}`;
}

/** "2 files changed, +3 −1". */
export function changeSummary(files: readonly FileStat[], change: { insertions: number; deletions: number }): string {
  return `${files.length} ${files.length === 1 ? 'file' : 'files'} changed, ${plusMinus(change)}`;
}

/** A task's change in a line: "+3 −1" when merged, else its outcome first ("conflict +3 −1"). */
export function changeDescription(change: TaskChangeOut): string {
  return change.outcome === 'merged' ? plusMinus(change) : `${outcomeWords(change.outcome)} ${plusMinus(change)}`;
}

interface Known {
  /** What the run looked like when read: read again once it differs. */
  key: string;
  changes: RunChanges | undefined;
}

export class RunChangesCache {
  private readonly known = new Map<string, Known>();
  private readonly reading = new Map<string, Promise<RunChanges | undefined>>();
  /** Bumped by `clear`: a read that was going on then is not remembered. */
  private generation = 0;

  get(runId: string): RunChanges | undefined {
    return this.known.get(runId)?.changes;
  }

  task(runId: string, taskId: string): TaskChangeOut | undefined {
    return this.get(runId)?.tasks.find((change) => change.task_id === taskId);
  }

  /**
   * The run's changes, read again when tasks finished since the last read (a change is captured
   * when its task's agent succeeds). A run without isolation is asked once: that never changes.
   * Errors are the caller's; nothing is remembered from a failed read.
   */
  refresh(api: DaemonApi, run: RunView): Promise<RunChanges | undefined> {
    const key = changesKey(run);
    const known = this.known.get(run.id);
    if (known !== undefined && (known.changes === undefined || known.key === key)) {
      return Promise.resolve(known.changes);
    }
    let reading = this.reading.get(run.id);
    if (reading === undefined) {
      const generation = this.generation;
      reading = api
        .getChanges(run.id)
        .then((changes) => {
          if (generation === this.generation) {
            this.known.set(run.id, { key, changes });
          }
          return changes;
        })
        .finally(() => this.reading.delete(run.id));
      this.reading.set(run.id, reading);
    }
    return reading;
  }

  clear(): void {
    this.generation++;
    this.known.clear();
    this.reading.clear();
  }
}

function changesKey(run: RunView): string {
  const counts = countsOf(run);
  return `${run.state} ${counts.succeeded} ${counts.failed}`;
}
