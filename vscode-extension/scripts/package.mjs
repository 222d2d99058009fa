// `npm run package`: a minified bundle, the repository's LICENSE beside it, then `vsce package`.
// vsce's file listing is printed only when it fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

execFileSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: root, stdio: 'inherit' });
// One licence for the whole repository: the extension ships a copy of it, made here.
copyFileSync(join(root, '..', 'LICENSE'), join(root, 'LICENSE'));
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
const result = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--no-update-package-json'], { cwd: root, encoding: 'utf8' });
const output = `${result.stdout}${result.stderr}`;
if (result.status !== 0) {
  process.stderr.write(output);
  process.exit(result.status ?? 1);
}
const done = output.split('\n').find((line) => line.includes('Packaged:'));
process.stdout.write(`${done?.replace(/\s*DONE\s*/, '').trim() ?? 'packaged'}\n`);
