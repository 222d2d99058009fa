/**
 * Commands of the language server that mean something to show in the editor. A code action's
 * "open the task's result" runs `parallelai.server.openTaskResult` on the server, which only
 * answers with the result; in VS Code it opens the task's detail document instead.
 */

export const OPEN_TASK_RESULT = 'parallelai.server.openTaskResult';

export interface TaskRef {
  runId: string;
  taskId: string;
}

/** The task a server command asks to open, when `command` is the server's open-result command. */
export function taskToOpen(command: string, args: readonly unknown[]): TaskRef | undefined {
  if (command !== OPEN_TASK_RESULT) {
    return undefined;
  }
  const [ref] = args;
  if (typeof ref !== 'object' || ref === null) {
    return undefined;
  }
  const { runId, taskId } = ref as Record<string, unknown>;
  return typeof runId === 'string' && typeof taskId === 'string' ? { runId, taskId } : undefined;
}
