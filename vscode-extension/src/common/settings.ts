/** The `parallelai.*` settings, read in one place, and what they mean for a run. */

import * as vscode from 'vscode';
import type { CreateRun } from './daemon/types';
import { isRecord } from './daemon/validate';

export interface Settings {
  engine: string;
  maxParallel: number;
  engineSettings: Record<string, Record<string, unknown>>;
  serverCommand: string[];
  workdir: string;
  daemonUrl: string;
  daemonToken: string;
}

export const DEFAULT_SERVER_COMMAND: readonly string[] = ['parallelai', 'lsp'];

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration('parallelai');
  return {
    // Empty: the daemon picks the first assistant installed and signed in (never a simulated one).
    engine: nonEmpty(config.get<unknown>('engine')) ?? '',
    maxParallel: positiveInteger(config.get<unknown>('maxParallel')) ?? 8,
    engineSettings: engineSettings(config.get<unknown>('engineSettings')),
    serverCommand: parseServerCommand(config.get<unknown>('serverCommand')),
    workdir: nonEmpty(config.get<unknown>('workdir')) ?? '',
    daemonUrl: nonEmpty(config.get<unknown>('daemonUrl')) ?? '',
    daemonToken: nonEmpty(config.get<unknown>('daemonToken')) ?? '',
  };
}

/**
 * The language server's command line: an argument list as given, or a string split on
 * whitespace (no shell is involved, so there is no quoting: use the list form for a path with
 * spaces). Anything else falls back to `parallelai lsp`.
 */
export function parseServerCommand(value: unknown): string[] {
  if (Array.isArray(value) && value.length > 0 && value.every((part) => typeof part === 'string' && part !== '')) {
    return [...(value as string[])];
  }
  if (typeof value === 'string' && value.trim() !== '') {
    return value.trim().split(/\s+/);
  }
  return [...DEFAULT_SERVER_COMMAND];
}

/**
 * The workspace root as the daemon should see it: the setting, else the folder's own path when
 * it is on disk. A virtual folder (VS Code for the Web) has no path the daemon could open, so
 * then the daemon's working directory is used (no `workdir`).
 */
export function workdirFor(settings: Settings, folder: vscode.Uri | undefined): string | undefined {
  if (settings.workdir !== '') {
    return settings.workdir;
  }
  return folder?.scheme === 'file' ? folder.fsPath : undefined;
}

/** The CreateRun body for `template` with the engine and parallelism the settings choose. */
export function templateRun(
  template: string,
  params: Record<string, unknown>,
  settings: Settings,
  workdir: string | undefined,
): CreateRun {
  const run: CreateRun = { template, params, parallel: settings.maxParallel };
  if (settings.engine !== '') {
    run.engine = settings.engine;
  }
  if (Object.keys(settings.engineSettings).length > 0) {
    run.engines = settings.engineSettings;
  }
  if (workdir !== undefined) {
    run.workdir = workdir;
  }
  return run;
}

/** `{engine: {option: value}}`; entries of another shape are dropped (the daemon would refuse them). */
function engineSettings(value: unknown): Record<string, Record<string, unknown>> {
  if (!isRecord(value)) {
    return {};
  }
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, Record<string, unknown>] => isRecord(entry[1])));
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}
