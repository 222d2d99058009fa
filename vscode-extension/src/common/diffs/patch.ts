/**
 * A `git diff` read back into files and hunks, and each file's two versions rebuilt from it: from
 * the patch alone when its hunks cover the whole file, or from a copy of the file before the change.
 * Pure functions: no vscode, no I/O.
 */

export interface Hunk {
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
  /** The hunk's lines with their mark: ' ' context, '-' removed, '+' added, '\' no newline at end. */
  lines: string[];
}

export interface FilePatch {
  /** Null for a file the change creates. */
  oldPath: string | null;
  /** Null for a file the change deletes. */
  newPath: string | null;
  binary: boolean;
  hunks: Hunk[];
}

export interface FileVersions {
  before: string;
  after: string;
}

/** The lines of context `git diff` keeps around a change (its default, which the daemon uses). */
export const GIT_CONTEXT = 3;

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** The path a file goes by: its new one, or its old one when it was deleted. */
export function pathOf(file: FilePatch): string {
  return file.newPath ?? file.oldPath ?? '';
}

/** The files of a `git diff` (as `git diff --binary` writes it), in order. */
export function parsePatch(patch: string): FilePatch[] {
  const files: FilePatch[] = [];
  let file: FilePatch | undefined;
  let hunk: Hunk | undefined;
  let oldLeft = 0;
  let newLeft = 0;
  const lines = patch.split('\n');
  if (lines[lines.length - 1] === '') {
    lines.pop();
  }
  for (const line of lines) {
    if (hunk !== undefined && (oldLeft > 0 || newLeft > 0 || line.startsWith('\\'))) {
      hunk.lines.push(line);
      if (line.startsWith(' ') || line === '') {
        oldLeft--;
        newLeft--;
      } else if (line.startsWith('-')) {
        oldLeft--;
      } else if (line.startsWith('+')) {
        newLeft--;
      }
      continue;
    }
    hunk = undefined;
    if (line.startsWith('diff --git ')) {
      const paths = headerPaths(line.slice('diff --git '.length));
      file = { oldPath: paths?.[0] ?? null, newPath: paths?.[1] ?? null, binary: false, hunks: [] };
      files.push(file);
    } else if (file === undefined) {
      continue; // text before the first file
    } else if (line.startsWith('@@')) {
      const match = HUNK_HEADER.exec(line);
      if (match !== null) {
        hunk = {
          oldStart: Number(match[1]),
          oldCount: match[2] === undefined ? 1 : Number(match[2]),
          newStart: Number(match[3]),
          newCount: match[4] === undefined ? 1 : Number(match[4]),
          lines: [],
        };
        oldLeft = hunk.oldCount;
        newLeft = hunk.newCount;
        file.hunks.push(hunk);
      }
    } else if (line.startsWith('new file mode')) {
      file.oldPath = null;
    } else if (line.startsWith('deleted file mode')) {
      file.newPath = null;
    } else if (line.startsWith('--- ')) {
      file.oldPath = sidePath(line.slice(4), 'a/');
    } else if (line.startsWith('+++ ')) {
      file.newPath = sidePath(line.slice(4), 'b/');
    } else if (line === 'GIT binary patch' || (line.startsWith('Binary files ') && line.endsWith(' differ'))) {
      file.binary = true;
    }
  }
  return files;
}

/**
 * Both versions from the patch alone: for a created or deleted file, and for one whose hunks run
 * from its first line to its last without a gap (a hunk ends at the end of the file when it keeps
 * fewer lines of context after its last change than git does). Undefined when the patch does
 * not hold the whole file, or the file is binary.
 */
export function versionsFromPatch(file: FilePatch, context = GIT_CONTEXT): FileVersions | undefined {
  if (file.binary) {
    return undefined;
  }
  const sides = sidesOf(file.hunks);
  if (file.oldPath === null) {
    return { before: '', after: sides.after };
  }
  if (file.newPath === null) {
    return { before: sides.before, after: '' };
  }
  const first = file.hunks[0];
  const last = file.hunks[file.hunks.length - 1];
  if (first === undefined || last === undefined || first.oldStart > 1) {
    return undefined; // a mode change only, or lines before the first hunk
  }
  const gap = file.hunks.some((hunk, index) => {
    const previous = file.hunks[index - 1];
    return previous !== undefined && hunk.oldStart !== previous.oldStart + previous.oldCount;
  });
  if (gap) {
    return undefined; // lines between two hunks
  }
  return trailingContext(last) < context ? sides : undefined;
}

/**
 * Both versions from `before`, a copy of the file as it was before the change: when every hunk's
 * context and removed lines are found in it at the hunk's place. Undefined otherwise (the copy is
 * of another version), or for a binary file.
 */
export function applyToText(file: FilePatch, before: string): FileVersions | undefined {
  if (file.binary) {
    return undefined;
  }
  const base = splitLines(before);
  const out: string[] = [];
  let cursor = 0;
  let newNoEol = base.noEol;
  for (const hunk of file.hunks) {
    const side = sidesOf([hunk]);
    const old = splitLines(side.before);
    // A hunk that removes nothing names the line after which it inserts.
    const start = hunk.oldCount === 0 ? hunk.oldStart : hunk.oldStart - 1;
    if (start < cursor || start + old.lines.length > base.lines.length) {
      return undefined;
    }
    if (old.lines.some((line, index) => base.lines[start + index] !== line)) {
      return undefined;
    }
    const atEnd = start + old.lines.length === base.lines.length;
    if (hunk.lines.length > 0 && old.lines.length > 0 && atEnd && old.noEol !== base.noEol) {
      return undefined;
    }
    out.push(...base.lines.slice(cursor, start));
    const added = splitLines(side.after);
    out.push(...added.lines);
    cursor = start + old.lines.length;
    if (atEnd) {
      newNoEol = added.lines.length > 0 ? added.noEol : base.noEol;
    }
  }
  out.push(...base.lines.slice(cursor));
  return { before, after: joinLines(out, newNoEol) };
}

/** The hunks' old and new sides as text (of those lines only). */
function sidesOf(hunks: readonly Hunk[]): FileVersions {
  const before: string[] = [];
  const after: string[] = [];
  let beforeNoEol = false;
  let afterNoEol = false;
  for (const hunk of hunks) {
    let previous = ' ';
    for (const line of hunk.lines) {
      const mark = line === '' ? ' ' : line[0];
      const text = line.slice(1);
      if (mark === '\\') {
        // "\ No newline at end of file": of the side(s) the line before it belongs to.
        beforeNoEol ||= previous !== '+';
        afterNoEol ||= previous !== '-';
        continue;
      }
      if (mark !== '+') {
        before.push(text);
      }
      if (mark !== '-') {
        after.push(text);
      }
      previous = mark ?? ' ';
    }
  }
  return { before: joinLines(before, beforeNoEol), after: joinLines(after, afterNoEol) };
}

function trailingContext(hunk: Hunk): number {
  let count = 0;
  for (let index = hunk.lines.length - 1; index >= 0; index--) {
    const line = hunk.lines[index] ?? '';
    if (line.startsWith('\\')) {
      continue;
    }
    if (!(line.startsWith(' ') || line === '')) {
      break;
    }
    count++;
  }
  return count;
}

function splitLines(text: string): { lines: string[]; noEol: boolean } {
  if (text === '') {
    return { lines: [], noEol: false };
  }
  const lines = text.split('\n');
  const noEol = lines[lines.length - 1] !== '';
  if (!noEol) {
    lines.pop();
  }
  return { lines, noEol };
}

function joinLines(lines: readonly string[], noEol: boolean): string {
  return lines.length === 0 ? '' : lines.join('\n') + (noEol ? '' : '\n');
}

/** `a/x b/y` from a `diff --git` line; with spaces in names, the two halves are the same path. */
function headerPaths(rest: string): [string, string] | undefined {
  if (rest.startsWith('"')) {
    const [first, remaining] = quoted(rest);
    const second = remaining.trimStart();
    const other = second.startsWith('"') ? quoted(second)[0] : second;
    return [stripPrefix(first, 'a/'), stripPrefix(other, 'b/')];
  }
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest.slice(2, half) === rest.slice(half + 3)) {
    return [rest.slice(2, half), rest.slice(half + 3)];
  }
  const match = /^a\/(.*) b\/(.*)$/.exec(rest);
  return match === null ? undefined : [match[1] ?? '', match[2] ?? ''];
}

function sidePath(text: string, prefix: string): string | null {
  const path = text.startsWith('"') ? quoted(text)[0] : text.replace(/\t.*$/, '');
  return path === '/dev/null' ? null : stripPrefix(path, prefix);
}

function stripPrefix(path: string, prefix: string): string {
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/** A C-quoted name as git writes one with unusual bytes (`"a/\303\251.txt"`), and what follows it. */
function quoted(text: string): [string, string] {
  const bytes: number[] = [];
  const escapes: Record<string, number> = { n: 10, t: 9, '"': 34, '\\': 92, a: 7, b: 8, f: 12, r: 13, v: 11 };
  let index = 1;
  for (; index < text.length && text[index] !== '"'; index++) {
    const char = text[index] ?? '';
    if (char !== '\\') {
      bytes.push(...new TextEncoder().encode(char));
      continue;
    }
    const next = text[index + 1] ?? '';
    const octal = /^[0-7]{3}/.exec(text.slice(index + 1));
    if (octal !== null) {
      bytes.push(parseInt(octal[0], 8));
      index += 3;
    } else {
      bytes.push(escapes[next] ?? next.charCodeAt(0));
      index += 1;
    }
  }
  return [new TextDecoder().decode(new Uint8Array(bytes)), text.slice(index + 1)];
}
