import { describe, expect, it } from 'vitest';
import { applyToText, parsePatch, pathOf, versionsFromPatch, type FilePatch } from '../../src/common/diffs/patch';

/** What `git diff --cached --binary --no-renames BASE` wrote for a change to every kind of file. */
const PATCH = `diff --git a/a.txt b/a.txt
index 7434450..4d1d9de 100644
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
-a.txt line 1
+A EDITED
 a.txt line 2
diff --git a/bin.dat b/bin.dat
new file mode 100644
index 0000000000000000000000000000000000000000..bdc955b7b2e610ad5a72302b139a2e6cb325519a
GIT binary patch
literal 2
JcmZQz1ONa700IC2

literal 0
HcmV?d00001

diff --git a/c.txt b/c.txt
new file mode 100644
index 0000000..814f4a4
--- /dev/null
+++ b/c.txt
@@ -0,0 +1,2 @@
+one
+two
diff --git a/long.txt b/long.txt
index 0ff3bbb..bb9ef6c 100644
--- a/long.txt
+++ b/long.txt
@@ -1,5 +1,5 @@
 1
-2
+two
 3
 4
 5
@@ -7,7 +7,7 @@
 7
 8
 9
-10
+ten
 11
 12
 13
diff --git a/noeol.txt b/noeol.txt
index da58862..a132e1b 100644
--- a/noeol.txt
+++ b/noeol.txt
@@ -1 +1 @@
-no eol
\\ No newline at end of file
+no eol, changed
\\ No newline at end of file
diff --git a/old.txt b/old.txt
deleted file mode 100644
index 286c5f5..0000000
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-gone
diff --git "a/sp ace \\303\\251.txt" "b/sp ace \\303\\251.txt"
new file mode 100644
index 0000000..587be6b
--- /dev/null
+++ "b/sp ace \\303\\251.txt"\t
@@ -0,0 +1 @@
+x
`;

const LONG = Array.from({ length: 20 }, (_, index) => `${index + 1}\n`).join('');

function file(files: FilePatch[], path: string): FilePatch {
  const found = files.find((candidate) => pathOf(candidate) === path);
  if (found === undefined) {
    throw new Error(`no ${path} in ${files.map(pathOf).join(', ')}`);
  }
  return found;
}

describe('parsePatch', () => {
  const files = parsePatch(PATCH);

  it('reads every file of a git patch, new, deleted, binary and quoted ones included', () => {
    expect(files.map(pathOf)).toEqual(['a.txt', 'bin.dat', 'c.txt', 'long.txt', 'noeol.txt', 'old.txt', 'sp ace é.txt']);
    expect(file(files, 'c.txt')).toMatchObject({ oldPath: null, newPath: 'c.txt', binary: false });
    expect(file(files, 'old.txt')).toMatchObject({ oldPath: 'old.txt', newPath: null });
    expect(file(files, 'bin.dat')).toMatchObject({ oldPath: null, binary: true, hunks: [] });
    expect(file(files, 'sp ace é.txt').oldPath).toBeNull();
  });

  it('reads each hunk with its place and lines, however many', () => {
    expect(file(files, 'long.txt').hunks.map((hunk) => [hunk.oldStart, hunk.oldCount, hunk.newStart, hunk.newCount])).toEqual([
      [1, 5, 1, 5],
      [7, 7, 7, 7],
    ]);
    expect(file(files, 'a.txt').hunks[0]?.lines).toEqual(['-a.txt line 1', '+A EDITED', ' a.txt line 2']);
    expect(file(files, 'noeol.txt').hunks[0]?.lines).toHaveLength(4);
  });

  it('does not take a removed line that looks like a header for one', () => {
    const tricky = 'diff --git a/x.md b/x.md\n--- a/x.md\n+++ b/x.md\n@@ -1,2 +1,1 @@\n--- a/rule\n keep\n';
    const [only] = parsePatch(tricky);
    expect(only).toMatchObject({ oldPath: 'x.md', newPath: 'x.md' });
    expect(only?.hunks[0]?.lines).toEqual(['--- a/rule', ' keep']);
  });
});

describe('versionsFromPatch', () => {
  const files = parsePatch(PATCH);

  it('rebuilds a small file whose one hunk covers it, a created one and a deleted one', () => {
    expect(versionsFromPatch(file(files, 'a.txt'))).toEqual({ before: 'a.txt line 1\na.txt line 2\n', after: 'A EDITED\na.txt line 2\n' });
    expect(versionsFromPatch(file(files, 'c.txt'))).toEqual({ before: '', after: 'one\ntwo\n' });
    expect(versionsFromPatch(file(files, 'old.txt'))).toEqual({ before: 'gone\n', after: '' });
  });

  it('keeps a missing newline at the end of the file on the side that misses it', () => {
    expect(versionsFromPatch(file(files, 'noeol.txt'))).toEqual({ before: 'no eol', after: 'no eol, changed' });
  });

  it('declines a file the patch holds only part of, and a binary one', () => {
    expect(versionsFromPatch(file(files, 'long.txt'))).toBeUndefined(); // lines 6 and 14-20 are not in it
    expect(versionsFromPatch(file(files, 'bin.dat'))).toBeUndefined();
    const middle = parsePatch('diff --git a/m b/m\n--- a/m\n+++ b/m\n@@ -4,3 +4,3 @@\n 4\n-5\n+five\n 6\n')[0]!;
    expect(versionsFromPatch(middle)).toBeUndefined();
  });
});

describe('applyToText', () => {
  const files = parsePatch(PATCH);

  it('rebuilds a partly covered file from a copy of it as it was before', () => {
    const versions = applyToText(file(files, 'long.txt'), LONG);
    expect(versions?.before).toBe(LONG);
    expect(versions?.after).toBe(LONG.replace('2\n', 'two\n').replace('10\n', 'ten\n'));
  });

  it('declines a copy that does not match the hunks at their places', () => {
    expect(applyToText(file(files, 'long.txt'), `0\n${LONG}`)).toBeUndefined();
    expect(applyToText(file(files, 'long.txt'), LONG.replace('9\n', 'nine\n'))).toBeUndefined();
    expect(applyToText(file(files, 'noeol.txt'), 'no eol\n')).toBeUndefined(); // the copy ends in a newline
  });

  it('inserts at the top, and keeps or drops the final newline as the patch says', () => {
    const top = parsePatch('diff --git a/t b/t\n--- a/t\n+++ b/t\n@@ -0,0 +1 @@\n+first\n')[0]!;
    expect(applyToText(top, 'x\ny\n')?.after).toBe('first\nx\ny\n');
    expect(applyToText(file(files, 'noeol.txt'), 'no eol')?.after).toBe('no eol, changed');
  });
});
