import { describe, expect, it } from 'vitest';
import { firstLines, formatMoney, formatSeconds, formatShort } from '../../src/common/panel/format';
import { formatCost, formatDuration } from '../../src/common/runs/runView';

describe('the panel formats numbers as the dashboard does', () => {
  it('writes money to the cent, and small sums to the first significant digits', () => {
    expect(formatMoney(0)).toBe('$0.00');
    expect(formatMoney(0.010079999999999987)).toBe('$0.01');
    expect(formatMoney(0.41075999999999224)).toBe('$0.41');
    expect(formatMoney(0.002)).toBe('$0.002');
    expect(formatMoney(0.00004)).toBe('<$0.0001');
    expect(formatMoney(1234.5)).toBe('$1,234.50');
    expect(formatMoney(Number.NaN)).toBe('\u2013');
  });

  it('writes token counts in thousands and millions', () => {
    expect(formatShort(950)).toBe('950');
    expect(formatShort(12_345)).toBe('12.3k');
    expect(formatShort(123_456)).toBe('123k');
    expect(formatShort(4_500_000)).toBe('4.5M');
    expect(formatShort(2000)).toBe('2k');
  });

  it('writes durations in seconds, then minutes with padded seconds, then hours and days', () => {
    expect(formatSeconds(4.25)).toBe('4.3s');
    expect(formatSeconds(42.9)).toBe('42s');
    expect(formatSeconds(65)).toBe('1m 05s');
    expect(formatSeconds(2 * 3600 + 3 * 60)).toBe('2h 03m');
    expect(formatSeconds(3 * 86400 + 4 * 3600)).toBe('3d 4h');
    expect(formatSeconds(-1)).toBe('0.0s');
    expect(formatSeconds(null)).toBe('\u2013');
  });
});

describe('the Runs tree, status bar and task documents write numbers as the dashboard does', () => {
  it('rounds money the same way', () => {
    expect(formatCost(0)).toBe('$0.00');
    expect(formatCost(0.41075999999999224)).toBe('$0.41');
    expect(formatCost(0.005)).toBe('$0.005');
    expect(formatCost(1234.5)).toBe('$1,234.50');
  });

  it('writes durations the same way', () => {
    expect(formatDuration(4.25)).toBe('4.3s');
    expect(formatDuration(65)).toBe('1m 05s');
    expect(formatDuration(2 * 3600 + 3 * 60)).toBe('2h 03m');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3d 4h');
  });
});

describe('the first lines of an error', () => {
  it('keeps the first non-empty lines and counts the rest', () => {
    const traceback = '\nTraceback (most recent call last):\r\n  File "x.py", line 1\n    boom()\nRuntimeError: boom\n\n';
    expect(firstLines(traceback)).toEqual({ text: 'Traceback (most recent call last):\n  File "x.py", line 1\n    boom()', more: 1 });
  });

  it('keeps a one-line message whole, and cuts a very long line', () => {
    expect(firstLines('exit 2')).toEqual({ text: 'exit 2', more: 0 });
    const long = firstLines('x'.repeat(500), 3, 40);
    expect(long.text).toHaveLength(40);
    expect(long.text.endsWith('\u2026')).toBe(true);
    expect(firstLines('')).toEqual({ text: '', more: 0 });
  });
});
