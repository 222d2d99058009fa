/**
 * Server-sent events over `fetch`: a parser for the `text/event-stream` format and a follower
 * that reconnects with `Last-Event-ID`. `EventSource` cannot send an `Authorization` header,
 * which the daemon requires on every request, so the stream is read from a fetch body instead.
 *
 * Why not eventsource-parser: its 4.x line needs Node 22.12 (we build on Node 20), and 3.1.1 fails
 * three of our six parser tests. It reports only an event's own `id`, so an id-only block is lost
 * (the last id is what a reconnect sends); it holds a CR-ended event until more bytes come; and it
 * looks for a byte-order mark as UTF-8 bytes, not as the decoded U+FEFF.
 */

import { DaemonError, errorMessage } from './errors';

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** Incremental parser: feed it decoded text as it arrives, take out whole messages. */
export class SseParser {
  private buffer = '';
  private skipLeadingNewline = false;
  private atStart = true;
  private data: string[] = [];
  private eventType = '';
  private messageId: string | undefined;
  /** The stream's last event id so far (the `id` field persists across messages, as in the spec). */
  lastEventId: string | undefined;
  /** The reconnection delay the server asked for with a `retry:` field, in ms. */
  retryMs: number | undefined;

  push(text: string): SseMessage[] {
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (text.startsWith('\uFEFF')) {
        text = text.slice(1);
      }
    }
    this.buffer += text;
    const messages: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const char = this.buffer[i];
      if (char === '\n' && this.skipLeadingNewline && i === start) {
        // the \n of a \r\n pair split across two chunks
        this.skipLeadingNewline = false;
        start = i + 1;
        continue;
      }
      this.skipLeadingNewline = false;
      if (char !== '\n' && char !== '\r') {
        continue;
      }
      const message = this.line(this.buffer.slice(start, i));
      if (message) {
        messages.push(message);
      }
      if (char === '\r') {
        if (i + 1 < this.buffer.length) {
          if (this.buffer[i + 1] === '\n') {
            i++;
          }
        } else {
          this.skipLeadingNewline = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return messages;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      return this.dispatch();
    }
    if (line.startsWith(':')) {
      return undefined; // a comment, e.g. the daemon's `: ping`
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.messageId = value;
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retryMs = Number(value);
        }
        break;
      default:
        break; // unknown fields are ignored
    }
    return undefined;
  }

  private dispatch(): SseMessage | undefined {
    const message =
      this.data.length > 0
        ? { id: this.messageId ?? this.lastEventId, event: this.eventType || 'message', data: this.data.join('\n') }
        : undefined;
    this.data = [];
    this.eventType = '';
    this.messageId = undefined;
    return message;
  }
}

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'closed';

export interface SseTarget {
  url: string;
  headers: Record<string, string>;
}

export interface FollowOptions {
  /** Where to connect; called before every attempt, so a restarted daemon's new URL and token are picked up. */
  target: () => Promise<SseTarget>;
  signal: AbortSignal;
  /** Resume after this event id (sent as `Last-Event-ID` on the first connection too). */
  lastEventId?: string | undefined;
  onStatus?: ((status: StreamStatus, detail?: string) => void) | undefined;
  fetch?: typeof fetch | undefined;
  /** First reconnection delay; it doubles after each failed attempt up to `maxRetryMs`. */
  retryMs?: number | undefined;
  maxRetryMs?: number | undefined;
}

const DEFAULT_RETRY_MS = 500;
const DEFAULT_MAX_RETRY_MS = 10_000;

/**
 * Every message of the stream, across dropped connections, until `signal` aborts. A reconnect
 * sends the last id seen, so the daemon replays exactly what was missed. A 404 ends the follow
 * with a `DaemonError` (the run does not exist); anything else is retried with backoff.
 */
export async function* followSse(options: FollowOptions): AsyncGenerator<SseMessage, void, undefined> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const firstDelay = options.retryMs ?? DEFAULT_RETRY_MS;
  const maxDelay = options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
  const onStatus = options.onStatus ?? (() => undefined);
  let lastStatus: StreamStatus | undefined;
  // A repeat of the same status is news only when it says why.
  const status = (next: StreamStatus, detail?: string): void => {
    if (next !== lastStatus || detail !== undefined) {
      lastStatus = next;
      onStatus(next, detail);
    }
  };
  let lastEventId = options.lastEventId;
  let delay = firstDelay;
  let attempt = 0;
  while (!options.signal.aborted) {
    status(attempt === 0 ? 'connecting' : 'reconnecting');
    attempt++;
    let serverRetry: number | undefined;
    try {
      const target = await options.target();
      const headers: Record<string, string> = { Accept: 'text/event-stream', ...target.headers };
      if (lastEventId !== undefined) {
        headers['Last-Event-ID'] = lastEventId;
      }
      const response = await fetchFn(target.url, { headers, signal: options.signal });
      if (!response.ok || response.body === null) {
        const body: unknown = await response.json().catch(() => undefined);
        const error = DaemonError.fromBody(response.status, body);
        if (response.status === 404 || response.status === 400) {
          throw error;
        }
        status(response.status === 401 ? 'unauthorized' : 'reconnecting', error.message);
      } else {
        status('live');
        const parser = new SseParser();
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) {
              break;
            }
            for (const message of parser.push(decoder.decode(value, { stream: true }))) {
              lastEventId = message.id ?? lastEventId;
              delay = firstDelay; // data flowed: the next drop starts the backoff afresh
              yield message;
            }
          }
        } finally {
          // Also reached when the consumer stops early: close the connection rather than leave it open.
          await reader.cancel().catch(() => undefined);
        }
        serverRetry = parser.retryMs;
      }
    } catch (error) {
      if (isAborted(options.signal)) {
        break;
      }
      if (error instanceof DaemonError) {
        throw error;
      }
      status('reconnecting', errorMessage(error));
    }
    await sleep(serverRetry ?? delay, options.signal);
    delay = Math.min(delay * 2, maxDelay);
  }
  status('closed');
}

/** Read through a call: the compiler would otherwise take `aborted` for the value it had before the await. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
