import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from 'vscode';
import { parseServerCommand, readSettings, templateRun, workdirFor } from '../../src/common/settings';
import { fake } from '../fakes/vscode';

describe('settings', () => {
  beforeEach(() => fake.reset());

  it('defaults to no engine (the daemon chooses a real one), 8 tasks at once and `parallelai lsp`', () => {
    expect(readSettings()).toEqual({ engine: '', maxParallel: 8, engineSettings: {}, serverCommand: ['parallelai', 'lsp'], workdir: '', daemonUrl: '', daemonToken: '' });
  });

  it('ignores values of the wrong kind', () => {
    fake.settings.set('parallelai.maxParallel', 0);
    fake.settings.set('parallelai.engine', '  ');
    expect(readSettings()).toMatchObject({ engine: '', maxParallel: 8 });
  });

  it('takes the server command as a list, or a string split on spaces', () => {
    expect(parseServerCommand(['/opt/my env/bin/parallelai', 'lsp'])).toEqual(['/opt/my env/bin/parallelai', 'lsp']);
    expect(parseServerCommand(' uvx  parallelai lsp ')).toEqual(['uvx', 'parallelai', 'lsp']);
    expect(parseServerCommand([])).toEqual(['parallelai', 'lsp']);
    expect(parseServerCommand(['parallelai', 3])).toEqual(['parallelai', 'lsp']);
  });

  it('passes engine settings through, dropping entries that are not objects', () => {
    fake.settings.set('parallelai.engineSettings', { echo: { latency: 0.5 }, broken: 3 });
    const settings = readSettings();
    expect(settings.engineSettings).toEqual({ echo: { latency: 0.5 } });
    expect(templateRun('code_review', {}, settings, undefined).engines).toEqual({ echo: { latency: 0.5 } });
  });

  it('builds a template run from the settings', () => {
    const settings = { ...readSettings(), engine: 'codex', maxParallel: 2 };
    expect(templateRun('code_review', {}, settings, '/ws')).toEqual({ template: 'code_review', params: {}, engine: 'codex', parallel: 2, workdir: '/ws' });
    expect(templateRun('code_review', {}, settings, undefined)).not.toHaveProperty('workdir');
  });

  it('leaves the engine out when none is set, so the daemon chooses a real one, never echo', () => {
    expect(templateRun('code_review', {}, readSettings(), undefined)).not.toHaveProperty('engine');
  });

  it('sends a folder on disk as the workdir, never a virtual one', () => {
    const settings = readSettings();
    expect(workdirFor(settings, vscode.Uri.file('/home/me/app'))).toBe('/home/me/app');
    expect(workdirFor(settings, vscode.Uri.parse('vscode-vfs://github/me/app'))).toBeUndefined();
    expect(workdirFor({ ...settings, workdir: '/srv/app' }, vscode.Uri.parse('vscode-vfs://github/me/app'))).toBe('/srv/app');
  });
});
