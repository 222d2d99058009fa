import { describe, expect, it } from 'vitest';
import { OPEN_TASK_RESULT, taskToOpen } from '../../src/desktop/serverCommands';

describe('server commands', () => {
  it("opens the task a finding's code action names", () => {
    expect(taskToOpen(OPEN_TASK_RESULT, [{ runId: 'r1', taskId: 'review-0003' }])).toEqual({ runId: 'r1', taskId: 'review-0003' });
  });

  it('leaves every other command, and malformed arguments, to the server', () => {
    expect(taskToOpen('parallelai.server.listRuns', [{ runId: 'r1', taskId: 't' }])).toBeUndefined();
    expect(taskToOpen(OPEN_TASK_RESULT, [])).toBeUndefined();
    expect(taskToOpen(OPEN_TASK_RESULT, [{ runId: 'r1' }])).toBeUndefined();
    expect(taskToOpen(OPEN_TASK_RESULT, ['r1', 't'])).toBeUndefined();
  });
});
