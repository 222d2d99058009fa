/** The commands, each a small function over the shared services; errors reach the user in one place. */

import * as vscode from 'vscode';
import type { Connector } from './connector';
import type { DaemonApi } from './daemon/api';
import { DaemonError, errorMessage } from './daemon/errors';
import type { CreateRun, RunOut, RunRetried, TemplateOut } from './daemon/types';
import { isRecord } from './daemon/validate';
import { openTaskDiff, type DiffDocuments, type OpenedDiff } from './diffs/openDiff';
import type { RunPanels } from './panel/panel';
import type { RunsController } from './runs/controller';
import { formatCost, isActive, retryableCount, runFromOut, runLabel, type RunView } from './runs/runView';
import { taskMarkdown } from './runs/taskDocument';
import { readSettings, templateRun, workdirFor } from './settings';
import type { Logger } from './util/logger';

export const REVIEW_TEMPLATE = 'code_review';

export interface Services {
  controller: RunsController;
  panels: RunPanels;
  connector: Connector;
  log: Logger;
  isWeb: boolean;
  /** The texts the diff editors of "Open Diff" show. */
  diffs: DiffDocuments;
}

/** A mistake or a missing step the user can fix; shown as a warning with its remedy. */
class UserError extends Error {
  constructor(
    message: string,
    readonly action?: { title: string; command: string },
  ) {
    super(message);
  }
}

export function registerCommands(services: Services): vscode.Disposable[] {
  const register = (id: string, handler: (...args: unknown[]) => Promise<unknown>): vscode.Disposable =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await handler(...args);
      } catch (error) {
        await report(services, id, error);
        return undefined;
      }
    });
  return [
    register('parallelai.reviewWorkspace', (uri) => reviewWorkspace(services, uri)),
    register('parallelai.runTemplate', (name) => runTemplate(services, name)),
    register('parallelai.showRuns', (arg) => showRuns(services, arg)),
    register('parallelai.cancelRun', (arg) => cancelRun(services, arg)),
    register('parallelai.retryRun', (arg) => retryRun(services, arg)),
    register('parallelai.openDashboard', () => openDashboard(services)),
    register('parallelai.connect', (args) => connect(services, args)),
    register('parallelai.disconnect', () => disconnect(services)),
    register('parallelai.refreshRuns', () => refreshRuns(services)),
    register('parallelai.openRun', (arg) => openRun(services, arg)),
    register('parallelai.showTask', (runId, taskId) => showTask(services, runId, taskId)),
    register('parallelai.openTaskDiff', (first, second) => openDiff(services, first, second)),
  ];
}

async function report(services: Services, command: string, error: unknown): Promise<void> {
  services.log.error(`${command}: ${errorMessage(error)}`);
  if (error instanceof UserError) {
    const chosen = await vscode.window.showWarningMessage(error.message, ...(error.action ? [error.action.title] : []));
    if (chosen !== undefined && error.action !== undefined) {
      await vscode.commands.executeCommand(error.action.command);
    }
    return;
  }
  const hint = error instanceof DaemonError ? hintFor(error, services.isWeb) : '';
  await vscode.window.showErrorMessage(`ParallelAI: ${errorMessage(error)}${hint}`);
}

function hintFor(error: DaemonError, isWeb: boolean): string {
  if (error.code === 'cross_origin') {
    return ` Start the daemon with \`parallelai serve --allow-origin ${pageOrigin() ?? 'ORIGIN'}\`.`;
  }
  if (error.code === 'unauthorized' && isWeb) {
    return ' Run "ParallelAI: Connect to Daemon" with the token from the daemon\'s daemon.json.';
  }
  if (error.code === 'unreachable') {
    return isWeb ? ' Is `parallelai serve` running?' : ' See the ParallelAI output for the language server.';
  }
  return '';
}

/** The origin this extension host runs under, in VS Code for the Web. */
export function pageOrigin(): string | undefined {
  const location = (globalThis as { location?: { origin?: unknown } }).location;
  return typeof location?.origin === 'string' && location.origin !== 'null' ? location.origin : undefined;
}

function requireApi(services: Services): DaemonApi {
  const api = services.controller.api;
  if (api === undefined) {
    throw services.isWeb
      ? new UserError('ParallelAI is not connected to a daemon.', { title: 'Connect to Daemon', command: 'parallelai.connect' })
      : new UserError('The ParallelAI language server has not started (see the ParallelAI output).', {
          title: 'Show Output',
          command: 'parallelai.showOutput',
        });
  }
  return api;
}

async function startRun(services: Services, run: CreateRun, title: string): Promise<RunOut> {
  const api = requireApi(services);
  const created = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title },
    () => api.startRun(run),
  );
  services.log.info(`started run ${created.id} (${run.template ?? 'prompts'}, engine ${run.engine ?? 'default'})`);
  services.controller.model.upsert(created.run);
  services.panels.show(api, created.id);
  return created.run;
}

async function pickFolder(uri: unknown): Promise<vscode.WorkspaceFolder | undefined> {
  if (uri instanceof vscode.Uri) {
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    if (folder !== undefined) {
      return folder;
    }
  }
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) {
    return folders[0];
  }
  return vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder to review' });
}

/** Reviews the workspace (or, from the explorer, one folder of it) with the `code_review` template. */
async function reviewWorkspace(services: Services, uri: unknown): Promise<RunOut | undefined> {
  requireApi(services);
  const folder = await pickFolder(uri);
  if (folder === undefined) {
    if ((vscode.workspace.workspaceFolders ?? []).length === 0) {
      throw new UserError('Open a folder to review first.', { title: 'Open Folder', command: 'workbench.action.files.openFolder' });
    }
    return undefined;
  }
  const params: Record<string, unknown> = {};
  if (uri instanceof vscode.Uri && uri.toString() !== folder.uri.toString()) {
    params.path = vscode.workspace.asRelativePath(uri, false);
  }
  const settings = readSettings();
  const run = templateRun(REVIEW_TEMPLATE, params, settings, workdirFor(settings, folder.uri));
  return startRun(services, run, `ParallelAI: starting a review of ${folder.name}…`);
}

interface TemplatePick extends vscode.QuickPickItem {
  template: TemplateOut;
}

/** Picks a template (unless one is named), asks for its parameters, and starts it. */
async function runTemplate(services: Services, name: unknown): Promise<RunOut | undefined> {
  const api = requireApi(services);
  const templates = await api.listTemplates();
  if (templates.length === 0) {
    throw new UserError(`The daemon reached through ${api.description} has no templates installed.`);
  }
  let template = typeof name === 'string' ? templates.find((candidate) => candidate.name === name) : undefined;
  if (template === undefined) {
    const picked = await vscode.window.showQuickPick<TemplatePick>(
      templates.map((candidate) => ({
        label: candidate.name,
        description: candidate.params?.length ? `${candidate.params.length} parameters` : '',
        detail: candidate.description ?? '',
        template: candidate,
      })),
      { title: 'ParallelAI: Run Template', placeHolder: 'Template to run', matchOnDetail: true },
    );
    if (picked === undefined) {
      return undefined;
    }
    template = picked.template;
  }
  const params = await askParams(template);
  if (params === undefined) {
    return undefined;
  }
  const settings = readSettings();
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  return startRun(services, templateRun(template.name, params, settings, workdirFor(settings, folder)), `ParallelAI: starting ${template.name}…`);
}

/** Parses the parameters box: empty means the template's defaults. */
export function parseParams(text: string): Record<string, unknown> | string {
  if (text.trim() === '') {
    return {};
  }
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : 'Give a JSON object, e.g. {"path": "src"}';
  } catch (error) {
    return `Not JSON: ${errorMessage(error)}`;
  }
}

/** "path (default "."), files, …": what the parameters box offers. */
export function describeParams(template: TemplateOut): string {
  const full = template.parameters ?? (template.params ?? []).map((name) => ({ name }));
  return full
    .map((param) => {
      if ('required' in param && param.required === true) {
        return `${param.name} (required)`;
      }
      return 'default' in param && param.default !== undefined ? `${param.name} = ${JSON.stringify(param.default)}` : param.name;
    })
    .join(', ');
}

async function askParams(template: TemplateOut): Promise<Record<string, unknown> | undefined> {
  const names = template.parameters?.map((param) => param.name) ?? template.params ?? [];
  if (names.length === 0) {
    return {};
  }
  const text = await vscode.window.showInputBox({
    title: `ParallelAI: ${template.name} parameters`,
    prompt: `A JSON object, empty for the defaults: ${describeParams(template)}`,
    placeHolder: `{"${names[0] ?? 'name'}": …}`,
    validateInput: (value) => {
      const parsed = parseParams(value);
      return typeof parsed === 'string' ? parsed : undefined;
    },
  });
  if (text === undefined) {
    return undefined;
  }
  const parsed = parseParams(text);
  return typeof parsed === 'string' ? undefined : parsed;
}

function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    return arg;
  }
  if (isRecord(arg) && typeof arg.runId === 'string') {
    return arg.runId; // a Runs view node
  }
  return undefined;
}

interface RunPick extends vscode.QuickPickItem {
  runId: string;
}

/** A pick per run; `note` adds to its description. */
function runPicks<R extends RunView | RunOut>(runs: readonly R[], note?: (run: R) => string): RunPick[] {
  return runs.map((run) => ({
    label: runLabel(run),
    description: `${run.state} · ${formatCost(run.usage.cost_usd)}${note === undefined ? '' : ` · ${note(run)}`}`,
    detail: `${run.id} · started ${new Date(run.created_at * 1000).toLocaleString()}`,
    runId: run.id,
  }));
}

/** Focuses the Runs view; given a run (or choosing one), opens its panel. */
async function showRuns(services: Services, arg: unknown): Promise<void> {
  await vscode.commands.executeCommand('parallelai.runs.focus');
  const runId = runIdOf(arg);
  if (runId !== undefined) {
    await openRun(services, runId);
    return;
  }
  if (services.controller.api === undefined) {
    return;
  }
  // Read the list again first: a run started elsewhere (the CLI, an assistant) a moment ago must be
  // there to pick, even if its first event has not reached the Runs view yet.
  await services.controller.refresh().catch((error: unknown) => services.log.warn(`could not list runs: ${errorMessage(error)}`));
  const runs = services.controller.model.list();
  if (runs.length === 0) {
    return;
  }
  const picked = await vscode.window.showQuickPick(runPicks(runs), {
    title: 'ParallelAI: Show Runs',
    placeHolder: 'Run to show (Escape to stay in the Runs view)',
    matchOnDetail: true,
  });
  if (picked !== undefined) {
    await openRun(services, picked.runId);
  }
}

async function openRun(services: Services, arg: unknown): Promise<void> {
  const runId = runIdOf(arg);
  if (runId === undefined) {
    await showRuns(services, undefined);
    return;
  }
  services.panels.show(requireApi(services), runId);
}

/** Cancels a run: the one given (a Runs view row) or one chosen among those going. */
async function cancelRun(services: Services, arg: unknown): Promise<RunOut | undefined> {
  const api = requireApi(services);
  let runId = runIdOf(arg);
  if (runId === undefined) {
    const going = (await api.listRuns({ limit: 100 })).filter(isActive);
    if (going.length === 0) {
      void vscode.window.showInformationMessage('ParallelAI: no run is going.');
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(runPicks(going), {
      title: 'ParallelAI: Cancel Run',
      placeHolder: 'Run to cancel',
      matchOnDetail: true,
    });
    if (picked === undefined) {
      return undefined;
    }
    runId = picked.runId;
  }
  const id = runId;
  const run = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `ParallelAI: cancelling ${id}…` },
    () => api.cancelRun(id),
  );
  services.controller.model.upsert(run);
  void vscode.window.showInformationMessage(`ParallelAI: run ${runLabel(run)} is ${run.state}.`);
  return run;
}

/** Tasks a retry of this finished run would run again (0 for a run still going). */
function retryable(run: RunOut): number {
  return run.active ? 0 : retryableCount(runFromOut(run));
}

/**
 * Runs a finished run's failed, cancelled and skipped tasks again: the run given (a Runs view row,
 * the panel's button) or one chosen among those with failures. Its panel then follows it again.
 */
async function retryRun(services: Services, arg: unknown): Promise<RunRetried | undefined> {
  const api = requireApi(services);
  let runId = runIdOf(arg);
  if (runId === undefined) {
    const failed = (await api.listRuns({ limit: 100 })).filter((run) => retryable(run) > 0);
    if (failed.length === 0) {
      void vscode.window.showInformationMessage('ParallelAI: no finished run has failed, cancelled or skipped tasks.');
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      runPicks(failed, (run) => `${retryable(run)} to retry`),
      { title: 'ParallelAI: Retry Failed Tasks', placeHolder: 'Run whose failed tasks to run again', matchOnDetail: true },
    );
    if (picked === undefined) {
      return undefined;
    }
    runId = picked.runId;
  }
  const id = runId;
  const retried = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `ParallelAI: retrying the failed tasks of ${id}…` },
    () => api.retryRun(id),
  );
  services.controller.model.upsert(retried.run);
  if (retried.retried === 0) {
    void vscode.window.showInformationMessage(`ParallelAI: run ${runLabel(retried.run)} has nothing to retry.`);
    return retried;
  }
  services.log.info(`retrying ${retried.retried} tasks of run ${id}`);
  services.panels.show(api, id);
  const tasks = retried.retried === 1 ? '1 task' : `${retried.retried} tasks`;
  void vscode.window.showInformationMessage(`ParallelAI: retrying ${tasks} of run ${runLabel(retried.run)}.`);
  return retried;
}

/** Opens the daemon's dashboard through a one-time link: the token never goes into a URL. */
async function openDashboard(services: Services): Promise<void> {
  const link = await requireApi(services).dashboardLink();
  const external = await vscode.env.asExternalUri(vscode.Uri.parse(link.url));
  await vscode.env.openExternal(external);
}

async function connect(services: Services, args: unknown): Promise<void> {
  const api = await services.connector.connect(args);
  if (api !== undefined) {
    services.controller.connect(api);
    void vscode.window.showInformationMessage(`ParallelAI: connected to ${api.description}.`);
  }
}

async function disconnect(services: Services): Promise<void> {
  await services.connector.forget();
  services.controller.disconnect();
}

async function refreshRuns(services: Services): Promise<void> {
  requireApi(services);
  await services.controller.refresh();
}

/** Opens one task's prompt, answer, error and attempts as a Markdown document. */
async function showTask(services: Services, runId: unknown, taskId: unknown): Promise<void> {
  if (typeof runId !== 'string' || typeof taskId !== 'string') {
    return;
  }
  const detail = await requireApi(services).getTask(runId, taskId);
  const change = (await services.controller.loadChanges(runId)) === undefined ? undefined : services.controller.changes.task(runId, taskId);
  const document = await vscode.workspace.openTextDocument({ language: 'markdown', content: taskMarkdown(detail, change) });
  await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
}

/** The task a command is about: a Runs view row, or a run id and a task id. */
function taskOf(first: unknown, second: unknown): { runId: string; taskId: string } | undefined {
  if (typeof first === 'string' && typeof second === 'string') {
    return { runId: first, taskId: second };
  }
  if (isRecord(first) && typeof first.runId === 'string' && typeof first.taskId === 'string') {
    return { runId: first.runId, taskId: first.taskId };
  }
  return undefined;
}

/** Opens what a task of an isolated run changed in VS Code's diff editor (or, failing that, its patch). */
async function openDiff(services: Services, first: unknown, second: unknown): Promise<OpenedDiff | undefined> {
  const target = taskOf(first, second);
  if (target === undefined) {
    return undefined;
  }
  const opened = await openTaskDiff(requireApi(services), services.diffs, target.runId, target.taskId);
  if (opened.kind === 'none') {
    throw new UserError(
      `Task ${target.taskId} of run ${target.runId} has no captured change: its run did not use isolation, or its agent has not succeeded.`,
    );
  }
  return opened;
}
