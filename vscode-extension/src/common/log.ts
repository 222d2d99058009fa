/** The extension's log: the "ParallelAI" output channel. */

import * as vscode from 'vscode';
import type { Logger } from './util/logger';

export function createLogger(context: vscode.ExtensionContext): Logger {
  const channel = vscode.window.createOutputChannel('ParallelAI', { log: true });
  context.subscriptions.push(channel, vscode.commands.registerCommand('parallelai.showOutput', () => channel.show()));
  return {
    info: (message) => channel.info(message),
    warn: (message) => channel.warn(message),
    error: (message) => channel.error(message),
  };
}
