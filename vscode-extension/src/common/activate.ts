/** What both entry points do once they know how to reach the daemon: the view, status bar, panel and commands. */

import * as vscode from 'vscode';
import { registerCommands, type Services } from './commands';
import type { Connector } from './connector';
import { errorMessage } from './daemon/errors';
import { DIFF_SCHEME, DiffDocuments } from './diffs/openDiff';
import { createLogger } from './log';
import { PANEL_VIEW_TYPE, RunPanels } from './panel/panel';
import { RunsController } from './runs/controller';
import { RunsTreeProvider } from './runsTree';
import { StatusBar } from './statusBar';
import type { Logger } from './util/logger';

/** What `activate()` returns: the extension's own API, for its tests. */
export interface ParallelAIExtension {
  controller: RunsController;
  panels: RunPanels;
}

export function activateWith(
  context: vscode.ExtensionContext,
  makeConnector: (log: Logger) => Connector,
  isWeb: boolean,
): ParallelAIExtension {
  const log = createLogger(context);
  const connector = makeConnector(log);
  const controller = new RunsController(log);
  const tree = new RunsTreeProvider(controller);
  const view = vscode.window.createTreeView('parallelai.runs', { treeDataProvider: tree, showCollapseAll: true });
  const diffs = new DiffDocuments();
  const services: Services = {
    controller,
    connector,
    log,
    isWeb,
    diffs,
    panels: new RunPanels(
      context.extensionUri,
      {
        cancel: async (runId) => {
          await vscode.commands.executeCommand('parallelai.cancelRun', runId);
        },
        retry: async (runId) => {
          await vscode.commands.executeCommand('parallelai.retryRun', runId);
        },
        showTask: async (runId, taskId) => {
          await vscode.commands.executeCommand('parallelai.showTask', runId, taskId);
        },
        openDashboard: async () => {
          await vscode.commands.executeCommand('parallelai.openDashboard');
        },
      },
      log,
    ),
  };
  const setConnected = (): void => {
    void vscode.commands.executeCommand('setContext', 'parallelai.connected', controller.api !== undefined);
  };
  context.subscriptions.push(
    connector,
    controller,
    tree,
    view,
    services.panels,
    diffs,
    vscode.workspace.registerTextDocumentContentProvider(DIFF_SCHEME, diffs),
    new StatusBar(controller, isWeb),
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, services.panels.serializer(controller)),
    controller.onDidChangeStatus(setConnected),
    ...registerCommands(services),
  );
  setConnected();
  connector.start().then(
    (api) => {
      if (api !== undefined) {
        controller.connect(api);
      } else if (!isWeb) {
        controller.failed(); // the web simply waits for "Connect to Daemon"
      }
      setConnected();
    },
    (error: unknown) => log.error(`could not connect: ${errorMessage(error)}`),
  );
  return { controller, panels: services.panels };
}
