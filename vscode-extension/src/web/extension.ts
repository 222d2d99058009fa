/** The web entry point (VS Code for the Web): the daemon is reached over HTTP and SSE with `fetch`. */

import type * as vscode from 'vscode';
import { activateWith, type ParallelAIExtension } from '../common/activate';
import { WebConnector } from './connection';

export function activate(context: vscode.ExtensionContext): ParallelAIExtension {
  return activateWith(context, (log) => new WebConnector(context.secrets, log), true);
}

export function deactivate(): void {
  // Everything is in context.subscriptions.
}
