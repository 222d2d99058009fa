/**
 * The desktop's connector: starts `parallelai lsp` (the `parallelai.serverCommand` setting) with
 * vscode-languageclient over stdio, and reaches the daemon through it.
 */

import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import type { Connector } from '../common/connector';
import type { DaemonApi } from '../common/daemon/api';
import { errorMessage } from '../common/daemon/errors';
import { LspDaemonApi } from '../common/daemon/lspApi';
import { readSettings } from '../common/settings';
import { taskToOpen } from './serverCommands';
import type { Logger } from '../common/util/logger';

export class LanguageServerConnector implements Connector {
  private client: LanguageClient | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly log: Logger) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('parallelai.serverCommand')) {
          void vscode.window
            .showInformationMessage('ParallelAI: the language server command changed.', 'Reload Window')
            .then((choice) => choice && vscode.commands.executeCommand('workbench.action.reloadWindow'));
        }
      }),
    );
  }

  async start(): Promise<DaemonApi | undefined> {
    const [command, ...args] = readSettings().serverCommand;
    if (command === undefined) {
      return undefined;
    }
    const serverOptions: ServerOptions = { command, args, options: { env: process.env } };
    const clientOptions: LanguageClientOptions = {
      // The server reads the files it publishes findings for, and offers fixes on them.
      documentSelector: [{ scheme: 'file' }],
      outputChannelName: 'ParallelAI Language Server',
      middleware: {
        executeCommand: async (name, args, next): Promise<unknown> => {
          const task = taskToOpen(name, args);
          if (task === undefined) {
            return (await next(name, args)) as unknown;
          }
          return vscode.commands.executeCommand('parallelai.showTask', task.runId, task.taskId);
        },
      },
    };
    const client = new LanguageClient('parallelai', 'ParallelAI', serverOptions, clientOptions);
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.log.error(`could not start the language server \`${[command, ...args].join(' ')}\`: ${errorMessage(error)}`);
      void vscode.window
        .showErrorMessage(
          `ParallelAI: could not start \`${[command, ...args].join(' ')}\`. Install parallelai (pip install parallelai) or set "parallelai.serverCommand".`,
          'Open Settings',
        )
        .then((choice) => choice && vscode.commands.executeCommand('workbench.action.openSettings', 'parallelai.serverCommand'));
      return undefined;
    }
    const api = new LspDaemonApi(client);
    api.daemon().then(
      (info) => this.log.info(`language server connected to daemon ${info.version} at ${info.url}`),
      (error: unknown) => this.log.warn(`the language server did not describe its daemon: ${errorMessage(error)}`),
    );
    return api;
  }

  async connect(): Promise<DaemonApi | undefined> {
    await this.client?.stop().catch(() => undefined);
    return this.start();
  }

  async forget(): Promise<void> {
    // Nothing is stored on the desktop: the language server reads the daemon's discovery file.
  }

  dispose(): void {
    for (const subscription of this.subscriptions) {
      subscription.dispose();
    }
    void this.client?.stop().catch(() => undefined);
  }
}
