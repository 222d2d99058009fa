/**
 * "Open Diff" for a task of an isolated run: VS Code's diff editor over each file it changed, its
 * two versions served from memory under the `parallelai-diff:` scheme. The daemon serves patches,
 * not files, so each file's versions are rebuilt from the task's patch: from the patch alone when it
 * holds the whole file, else from the workspace's copy of the file when the patch applies to it at
 * every hunk's place. When neither works for some file, the patch itself opens, as a `diff`
 * document.
 */

import * as vscode from 'vscode';
import type { DaemonApi } from '../daemon/api';
import { applyToText, parsePatch, pathOf, versionsFromPatch, type FilePatch, type FileVersions } from './patch';

export const DIFF_SCHEME = 'parallelai-diff';

/** The text of each side shown, by URI; a content provider for `parallelai-diff:`. */
export class DiffDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  /** A URI whose document holds `text`; its path ends in the file's own, so VS Code picks its language. */
  put(runId: string, taskId: string, side: 'before' | 'after', path: string, text: string): vscode.Uri {
    const query = new URLSearchParams({ run: runId, task: taskId, side }).toString();
    const uri = vscode.Uri.from({ scheme: DIFF_SCHEME, path: `/${path}`, query });
    const key = uri.toString();
    const previous = this.texts.get(key);
    this.texts.set(key, text);
    if (previous !== undefined && previous !== text) {
      this.changed.fire(uri); // an open editor shows the new text (the task ran again)
    }
    return uri;
  }

  dispose(): void {
    this.changed.dispose();
    this.texts.clear();
  }
}

/** Reads a workspace file as text, or undefined when there is none at `path`. */
export type ReadWorkspaceFile = (path: string) => Promise<string | undefined>;

export interface FileDiff {
  path: string;
  versions: FileVersions;
  /** `base`: the versions came from the patch alone; `yours`: from the workspace's copy. */
  from: 'base' | 'yours';
}

/** Each changed file's two versions, or undefined when one of them cannot be rebuilt. */
export async function fileDiffs(files: readonly FilePatch[], read: ReadWorkspaceFile): Promise<FileDiff[] | undefined> {
  const diffs: FileDiff[] = [];
  for (const file of files) {
    const path = pathOf(file);
    const whole = versionsFromPatch(file);
    if (whole !== undefined) {
      diffs.push({ path, versions: whole, from: 'base' });
      continue;
    }
    const copy = file.oldPath === null || file.binary ? undefined : await read(file.oldPath);
    const applied = copy === undefined ? undefined : applyToText(file, copy);
    if (applied === undefined) {
      return undefined;
    }
    diffs.push({ path, versions: applied, from: 'yours' });
  }
  return diffs;
}

/** The first workspace folder's copy of `path` (a path from the repository's top), if it has one. */
export async function readFromWorkspace(path: string): Promise<string | undefined> {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    try {
      const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, ...path.split('/')));
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      continue; // not there, or not text
    }
  }
  return undefined;
}

export type OpenedDiff = { kind: 'diff'; files: FileDiff[] } | { kind: 'patch' } | { kind: 'none' };

/**
 * Opens the task's change: one file in `vscode.diff`, several in `vscode.changes` (the multi-file
 * diff editor), or the patch as a `diff` document when a file's versions cannot be rebuilt.
 */
export async function openTaskDiff(
  api: DaemonApi,
  documents: DiffDocuments,
  runId: string,
  taskId: string,
  read: ReadWorkspaceFile = readFromWorkspace,
): Promise<OpenedDiff> {
  const patch = await api.taskDiff(runId, taskId);
  if (patch === undefined || patch.trim() === '') {
    return { kind: 'none' };
  }
  const diffs = await fileDiffs(parsePatch(patch), read);
  if (diffs === undefined || diffs.length === 0) {
    const document = await vscode.workspace.openTextDocument({ language: 'diff', content: patch });
    await vscode.window.showTextDocument(document, { preview: true });
    return { kind: 'patch' };
  }
  const sides = diffs.map((diff) => ({
    diff,
    left: documents.put(runId, taskId, 'before', diff.path, diff.versions.before),
    right: documents.put(runId, taskId, 'after', diff.path, diff.versions.after),
  }));
  const [only] = sides;
  if (only !== undefined && sides.length === 1) {
    const left = only.diff.from === 'base' ? 'base' : 'yours';
    await vscode.commands.executeCommand('vscode.diff', only.left, only.right, `${only.diff.path} (${left} ↔ ${taskId})`, {
      preview: true,
    });
  } else {
    await vscode.commands.executeCommand(
      'vscode.changes',
      `${taskId}: ${sides.length} files (run ${runId})`,
      sides.map((side) => [side.right, side.left, side.right]),
    );
  }
  return { kind: 'diff', files: diffs };
}
