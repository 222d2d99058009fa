/** The desktop entry point: the daemon is reached through the ParallelAI language server. */

import type * as vscode from 'vscode';
import { activateWith, type ParallelAIExtension } from './common/activate';
import { LanguageServerConnector } from './desktop/languageClient';

export function activate(context: vscode.ExtensionContext): ParallelAIExtension {
  return activateWith(context, (log) => new LanguageServerConnector(log), false);
}

export function deactivate(): void {
  // Everything is in context.subscriptions; the language client stops with it.
}
