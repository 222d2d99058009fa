/**
 * Numbers as the run panel shows them, in the dashboard's words: money to the cent (`$0.01`),
 * counts in thousands (`12.3k`), durations in minutes and padded seconds (`1m 05s`). The raw
 * numbers stay in the daemon's API; these are for people.
 */

const DASH = '\u2013';

export function formatMoney(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) {
    return DASH;
  }
  const abs = Math.abs(usd);
  const sign = usd < 0 ? '-' : '';
  if (abs === 0) {
    return '$0.00';
  }
  if (abs < 0.0001) {
    return `${sign}<$0.0001`;
  }
  if (abs < 0.01) {
    return `${sign}$${abs.toFixed(4).replace(/0+$/, '')}`;
  }
  if (abs < 1e6) {
    return `${sign}$${abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return `${sign}$${formatShort(abs)}`;
}

/** 950, 12.3k, 123k, 4.5M. */
export function formatShort(n: number): string {
  if (Math.abs(n) < 1000) {
    return String(Math.round(n));
  }
  for (const [unit, size] of [['k', 1e3], ['M', 1e6], ['B', 1e9]] as const) {
    const value = n / size;
    const text = value.toFixed(Math.abs(value) < 100 ? 1 : 0).replace(/\.0$/, '');
    if (Math.abs(Number(text)) < 1000 || unit === 'B') {
      return text + unit;
    }
  }
  return String(n);
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** 4.2s, 42s, 1m 05s, 2h 03m, 3d 4h. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return DASH;
  }
  const s = Math.max(0, seconds);
  if (s < 10) {
    return `${s.toFixed(1)}s`;
  }
  if (s < 60) {
    return `${Math.floor(s)}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${pad2(Math.floor(s % 60))}s`;
  }
  const h = Math.floor(m / 60);
  return h < 24 ? `${h}h ${pad2(m % 60)}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** 14:03:07, in the user's clock. */
export function formatClock(epochSeconds: number): string {
  const at = new Date(epochSeconds * 1000);
  return `${pad2(at.getHours())}:${pad2(at.getMinutes())}:${pad2(at.getSeconds())}`;
}

export interface Excerpt {
  /** The first non-empty lines, each cut to a readable length. */
  text: string;
  /** Lines left out (the task document has them all). */
  more: number;
}

/** The first lines of an error: enough to recognise it without the whole traceback. */
export function firstLines(message: string, lines = 3, width = 240): Excerpt {
  const all = message.replace(/\r\n?/g, '\n').split('\n');
  while (all.length > 0 && all[all.length - 1]?.trim() === '') {
    all.pop();
  }
  const start = all.findIndex((line) => line.trim() !== '');
  const kept = start < 0 ? [] : all.slice(start, start + lines);
  const text = kept.map((line) => (line.length > width ? `${line.slice(0, width - 1)}\u2026` : line)).join('\n');
  return { text, more: Math.max(0, all.length - Math.max(0, start) - kept.length) };
}
