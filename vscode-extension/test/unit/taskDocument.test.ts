import { describe, expect, it } from 'vitest';
import { taskMarkdown } from '../../src/common/runs/taskDocument';

describe('the task document', () => {
  it('shows the answer, the structured output, the error and each attempt', () => {
    const text = taskMarkdown({
      run_id: 'r1',
      task: { id: 't1', prompt: 'Review `a.py`\n```\ncode\n```', engine: 'echo' },
      state: 'failed',
      reason: 'execution: exit 1',
      result: { text: 'partial answer', structured: { findings: [] }, usage: { input_tokens: 10, output_tokens: 5, cost_usd: 0.002 }, duration_s: 1.5, error: { kind: 'execution', message: 'exit 1' } },
      attempts: [
        { number: 1, started_at: 100, finished_at: 101.5, state: 'failed', error: { kind: 'execution', message: 'exit | 1' } },
        { number: 2, started_at: 102, finished_at: null, state: 'running' },
      ],
    });
    expect(text).toContain('# Task t1 — failed');
    expect(text).toContain('Run `r1`, engine `echo`');
    expect(text).toContain('1.5s, $0.002, 15 tokens');
    expect(text).toContain('**execution**: exit 1');
    expect(text).toContain('"findings": []');
    expect(text).toContain('partial answer');
    // The prompt's own fence cannot close the one around it.
    expect(text).toContain('````text\nReview `a.py`\n```\ncode\n```\n````');
    expect(text).toContain('| 1 | failed | 1.5s | exit \\| 1 |');
    expect(text).toContain('| 2 | running | … |  |');
  });

  it('says when a task waiting to retry runs again, and shows an attempt cut off as interrupted', () => {
    const retryAt = 1_800_000_060;
    const text = taskMarkdown({
      run_id: 'r1',
      task: { id: 't1', prompt: 'p' },
      state: 'retrying',
      reason: 'attempt 2 failed (transient: boom); retrying in 60.0s',
      retry_at: retryAt,
      attempts: [
        { number: 1, started_at: 100, finished_at: 101, state: 'interrupted' },
        { number: 2, started_at: 102, finished_at: 103, state: 'failed', error: { kind: 'transient', message: 'boom' } },
      ],
    });
    expect(text).toContain('# Task t1 — retrying');
    expect(text).toContain('> attempt 2 failed (transient: boom); retrying in 60.0s');
    expect(text).toContain(`Runs again at ${new Date(retryAt * 1000).toLocaleTimeString()}.`);
    expect(text).toContain('| 1 | interrupted | 1.0s |  |');
  });

  it('shows what a task of an isolated run changed, and how to see the patch', () => {
    const text = taskMarkdown(
      { run_id: 'r1', task: { id: 't1', prompt: 'p' }, state: 'failed', attempts: [], result: null },
      { task_id: 't1', outcome: 'conflict', commit: null, insertions: 2, deletions: 1, files: [{ path: 'a|b.txt', insertions: 2, deletions: 1, binary: false }] },
    );
    expect(text).toContain('## Change\n\nconflict: 1 file changed, +2 −1');
    expect(text).toContain('| a\\|b.txt | +2 −1 |');
    expect(text).toContain('`parallelai diff r1 t1` prints the patch');
  });
});
