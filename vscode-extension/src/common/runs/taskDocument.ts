/** One task as a Markdown document: what it was asked, what it answered, how each attempt went. */

import type { TaskChangeOut, TaskDetail } from '../daemon/types';
import { changeSummary, outcomeWords, plusMinus } from './changes';
import { clockTime, formatCost, formatDuration } from './runView';

/** The task's document; `change`, for a task of an isolated run, adds what it changed. */
export function taskMarkdown(detail: TaskDetail, change?: TaskChangeOut): string {
  const engine = detail.task.engine ? `, engine \`${detail.task.engine}\`` : '';
  const lines: string[] = [`# Task ${detail.task.id} — ${detail.state}`, '', `Run \`${detail.run_id}\`${engine}`, ''];
  const result = detail.result ?? undefined;
  if (result) {
    const tokens = result.usage.input_tokens + result.usage.output_tokens;
    lines.push(
      `${formatDuration(result.duration_s)}, ${formatCost(result.usage.cost_usd)}, ${tokens} tokens${result.reused ? ' (reused from the cache)' : ''}`,
      '',
    );
  }
  if (detail.reason) {
    lines.push(`> ${detail.reason}`, '');
  }
  if (detail.state === 'retrying' && typeof detail.retry_at === 'number') {
    // A task waiting out a retry backoff holds no slot; it runs again on its own.
    lines.push(`Runs again at ${clockTime(detail.retry_at)}.`, '');
  }
  if (result?.error) {
    lines.push('## Error', '', `**${result.error.kind}**: ${result.error.message}`, '');
  }
  if (result?.structured !== undefined && result.structured !== null) {
    lines.push('## Structured output', '', fence(JSON.stringify(result.structured, null, 2), 'json'), '');
  }
  if (result?.text) {
    lines.push('## Answer', '', result.text, '');
  }
  if (change !== undefined) {
    const commit = change.commit === null ? '' : ` as \`${change.commit.slice(0, 12)}\``;
    lines.push('## Change', '', `${outcomeWords(change.outcome)}${commit}: ${changeSummary(change.files, change)}`, '');
    if (change.files.length > 0) {
      lines.push('| file | changes |', '|---|---:|');
      lines.push(...change.files.map((file) => `| ${cell(file.path)} | ${file.binary ? 'binary' : plusMinus(file)} |`), '');
    }
    lines.push(`Open Diff on the task in the Runs view shows it; \`parallelai diff ${detail.run_id} ${detail.task.id}\` prints the patch.`, '');
  }
  lines.push('## Prompt', '', fence(detail.task.prompt, 'text'), '');
  if (detail.attempts.length > 0) {
    lines.push('## Attempts', '', '| # | state | duration | error |', '|---|---|---|---|');
    for (const attempt of detail.attempts) {
      const duration = attempt.finished_at ? formatDuration(attempt.finished_at - attempt.started_at) : '…';
      lines.push(`| ${attempt.number} | ${attempt.state} | ${duration} | ${cell(attempt.error?.message ?? '')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** A code fence long enough that nothing in `text` closes it. */
function fence(text: string, language: string): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const marks = '`'.repeat(longest + 1);
  return `${marks}${language}\n${text}\n${marks}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
