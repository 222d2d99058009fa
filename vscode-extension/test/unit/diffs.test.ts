import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from 'vscode';
import { registerCommands, type Services } from '../../src/common/commands';
import type { Connector } from '../../src/common/connector';
import type { RunChanges } from '../../src/common/daemon/types';
import { DIFF_SCHEME, DiffDocuments } from '../../src/common/diffs/openDiff';
import { RunPanels } from '../../src/common/panel/panel';
import { RunsController } from '../../src/common/runs/controller';
import { silentLogger } from '../../src/common/util/logger';
import { runOut, taskOut } from '../helpers/builders';
import { FakeApi } from '../helpers/fakeApi';
import { until } from '../helpers/server';
import { fake, Uri as FakeUri } from '../fakes/vscode';

const EDIT_A = `diff --git a/a.txt b/a.txt
index 7434450..4d1d9de 100644
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
-a.txt line 1
+A EDITED
 a.txt line 2
`;
const NEW_C = `diff --git a/c.txt b/c.txt
new file mode 100644
index 0000000..814f4a4
--- /dev/null
+++ b/c.txt
@@ -0,0 +1,2 @@
+one
+two
`;
/** A one-line edit in the middle of a 20-line file: the patch holds 7 of its lines. */
const LONG_EDIT = `diff --git a/src/long.py b/src/long.py
--- a/src/long.py
+++ b/src/long.py
@@ -7,7 +7,7 @@
 7
 8
 9
-10
+ten
 11
 12
 13
`;
const LONG = Array.from({ length: 20 }, (_, index) => `${index + 1}\n`).join('');

const CHANGES: RunChanges = {
  run_id: 'r1',
  branch: 'parallelai/r1',
  base: 'b'.repeat(40),
  tasks: [
    { task_id: 'edit-a', outcome: 'merged', commit: 'e804739872ce0000', insertions: 1, deletions: 1, files: [{ path: 'a.txt', insertions: 1, deletions: 1, binary: false }] },
    { task_id: 'stray', outcome: 'outside_scope', commit: null, insertions: 2, deletions: 0, files: [{ path: 'c.txt', insertions: 2, deletions: 0, binary: false }] },
  ],
};

class FakeConnector implements Connector {
  constructor(private readonly api: FakeApi) {}
  start = () => Promise.resolve(this.api);
  connect = () => Promise.resolve(this.api);
  forget = (): Promise<void> => Promise.resolve();
  dispose = () => undefined;
}

function setUp(api: FakeApi): { services: Services; run: (id: string, ...args: unknown[]) => Promise<unknown> } {
  fake.reset();
  const controller = new RunsController(silentLogger, { batchMs: 1 });
  controller.connect(api);
  const panels = new RunPanels(
    vscode.Uri.file('/ext'),
    { cancel: () => Promise.resolve(), retry: () => Promise.resolve(), showTask: () => Promise.resolve(), openDashboard: () => Promise.resolve() },
    silentLogger,
  );
  const diffs = new DiffDocuments();
  vscode.workspace.registerTextDocumentContentProvider(DIFF_SCHEME, diffs);
  const services: Services = { controller, panels, connector: new FakeConnector(api), log: silentLogger, isWeb: false, diffs };
  registerCommands(services);
  return { services, run: async (id, ...args) => vscode.commands.executeCommand(id, ...args) };
}

/** What the content provider serves for a URI a diff command was given. */
function served(uri: unknown): string {
  const provider = fake.contentProviders.get(DIFF_SCHEME);
  return provider?.provideTextDocumentContent(uri as FakeUri) ?? '<no provider>';
}

describe('Open Diff', () => {
  let api: FakeApi;
  beforeEach(() => {
    api = new FakeApi();
  });

  it('opens a one-file change in the diff editor, base against the task, from a Runs view row', async () => {
    api.patches.set('r1/edit-a', EDIT_A);
    const { run } = setUp(api);
    await run('parallelai.openTaskDiff', { kind: 'task', runId: 'r1', taskId: 'edit-a' });
    const call = fake.executed.find((executed) => executed.command === 'vscode.diff');
    expect(call).toBeDefined();
    const [left, right, title] = call!.args as [FakeUri, FakeUri, string];
    expect(left.scheme).toBe(DIFF_SCHEME);
    expect(left.path).toBe('/a.txt'); // the file's own name: VS Code picks its language from it
    expect(served(left)).toBe('a.txt line 1\na.txt line 2\n');
    expect(served(right)).toBe('A EDITED\na.txt line 2\n');
    expect(title).toBe('a.txt (base ↔ edit-a)');
    expect(fake.documents).toEqual([]);
  });

  it('opens a change to several files in the multi-file diff editor', async () => {
    api.patches.set('r1/both', EDIT_A + NEW_C);
    const { run } = setUp(api);
    await run('parallelai.openTaskDiff', 'r1', 'both');
    const call = fake.executed.find((executed) => executed.command === 'vscode.changes');
    const [title, resources] = call!.args as [string, [FakeUri, FakeUri, FakeUri][]];
    expect(title).toBe('both: 2 files (run r1)');
    expect(resources.map(([resource]) => resource.path)).toEqual(['/a.txt', '/c.txt']);
    expect(served(resources[1]![1])).toBe('');
    expect(served(resources[1]![2])).toBe('one\ntwo\n');
  });

  it("rebuilds a file the patch holds only part of from the workspace's copy, when the patch applies to it", async () => {
    api.patches.set('r1/long', LONG_EDIT);
    const { run } = setUp(api);
    fake.workspaceFolders = [{ uri: FakeUri.file('/work/app'), name: 'app', index: 0 }];
    fake.files.set('/work/app/src/long.py', LONG);
    await run('parallelai.openTaskDiff', 'r1', 'long');
    const [left, right, title] = fake.executed.find((executed) => executed.command === 'vscode.diff')!.args as [FakeUri, FakeUri, string];
    expect(served(left)).toBe(LONG);
    expect(served(right)).toBe(LONG.replace('10\n', 'ten\n'));
    expect(title).toBe('src/long.py (yours ↔ long)');
  });

  it('opens the patch itself as a diff document when a file cannot be rebuilt', async () => {
    api.patches.set('r1/long', LONG_EDIT);
    const { run } = setUp(api);
    fake.workspaceFolders = [{ uri: FakeUri.file('/work/app'), name: 'app', index: 0 }];
    fake.files.set('/work/app/src/long.py', 'another version\n');
    await run('parallelai.openTaskDiff', 'r1', 'long');
    expect(fake.documents).toEqual([{ language: 'diff', content: LONG_EDIT }]);
    expect(fake.shown).toHaveLength(1);
    expect(fake.executed.map((executed) => executed.command)).not.toContain('vscode.diff');
  });

  it('says so when the task has no captured change', async () => {
    const { run } = setUp(api);
    await run('parallelai.openTaskDiff', 'r1', 'plain');
    expect(fake.messages).toEqual([
      { level: 'warning', text: 'Task plain of run r1 has no captured change: its run did not use isolation, or its agent has not succeeded.' },
    ]);
  });

  it('adds the change to the task document of an isolated run', async () => {
    api.runs.set('r1', { run: runOut('r1', { state: 'succeeded', active: false, total: 2 }), tasks: [taskOut('edit-a', 'succeeded'), taskOut('stray', 'failed')] });
    api.changes.set('r1', CHANGES);
    const { services, run } = setUp(api);
    await until(() => services.controller.model.get('r1') !== undefined);
    await run('parallelai.showTask', 'r1', 'edit-a');
    const [document] = fake.documents;
    expect(document?.language).toBe('markdown');
    expect(document?.content).toContain('## Change\n\nmerged as `e804739872ce`: 1 file changed, +1 −1');
    expect(document?.content).toContain('| a.txt | +1 −1 |');
    expect(document?.content).toContain('`parallelai diff r1 edit-a`');
  });
});
