import { afterEach, describe, expect, it } from 'vitest';
import { followSse, SseParser, type SseMessage, type StreamStatus } from '../../src/common/daemon/sse';
import { frame, openStream, startServer, type TestServer } from '../helpers/server';

describe('SseParser', () => {
  it('parses messages with ids, types and multi-line data', () => {
    const parser = new SseParser();
    const messages = parser.push('id: 7\nevent: task.state\ndata: {"a":\ndata: 1}\n\n');
    expect(messages).toEqual([{ id: '7', event: 'task.state', data: '{"a":\n1}' }]);
    expect(parser.lastEventId).toBe('7');
  });

  it('keeps a message split across chunks until its blank line arrives', () => {
    const parser = new SseParser();
    expect(parser.push('id: 1\nda')).toEqual([]);
    expect(parser.push('ta: hel')).toEqual([]);
    expect(parser.push('lo\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ id: '1', event: 'message', data: 'hello' }]);
  });

  it('accepts CRLF and CR line ends, even a CRLF split between chunks', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\r')).toEqual([]);
    expect(parser.push('\n\r\ndata: b\r\r')).toEqual([
      { id: undefined, event: 'message', data: 'a' },
      { id: undefined, event: 'message', data: 'b' },
    ]);
  });

  it('skips comments such as the daemon pings, and blank lines without data', () => {
    const parser = new SseParser();
    expect(parser.push(': ping\n\n: ping\n\nid: 3\n\ndata: x\n\n')).toEqual([{ id: '3', event: 'message', data: 'x' }]);
  });

  it('strips a leading byte-order mark and reads the retry field', () => {
    const parser = new SseParser();
    expect(parser.push('\uFEFFretry: 1500\ndata: y\n\n')).toEqual([{ id: undefined, event: 'message', data: 'y' }]);
    expect(parser.retryMs).toBe(1500);
  });

  it('keeps the last id for later messages that carry none, as the spec says', () => {
    const parser = new SseParser();
    expect(parser.push('id: 9\ndata: a\n\ndata: b\n\n').map((m) => m.id)).toEqual(['9', '9']);
  });
});

describe('followSse against a real server', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('reconnects after a dropped connection with Last-Event-ID and misses nothing', async () => {
    let connections = 0;
    server = await startServer((request, response) => {
      connections++;
      openStream(response);
      if (connections === 1) {
        response.write(frame(1, 'run.created', { n: 1 }));
        response.write(': ping\n\n');
        response.write(frame(2, 'task.state', { n: 2 }));
        // The connection dies mid-message: the half frame must not be delivered.
        response.write('id: 3\ndata: {"n": 3');
        setImmediate(() => response.destroy());
      } else {
        const after = Number(request.headers['last-event-id']);
        for (let id = after + 1; id <= 4; id++) {
          response.write(frame(id, 'task.state', { n: id }));
        }
        response.end();
      }
    });
    const abort = new AbortController();
    const statuses: StreamStatus[] = [];
    const seen: SseMessage[] = [];
    const url = `${server.url}/v1/events`;
    for await (const message of followSse({
      target: () => Promise.resolve({ url, headers: { Authorization: 'Bearer t0k' } }),
      signal: abort.signal,
      retryMs: 5,
      onStatus: (status) => statuses.push(status),
    })) {
      seen.push(message);
      if (message.id === '4') {
        abort.abort();
      }
    }
    expect(seen.map((m) => m.id)).toEqual(['1', '2', '3', '4']);
    expect(seen.map((m) => (JSON.parse(m.data) as { n: number }).n)).toEqual([1, 2, 3, 4]);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers['last-event-id']).toBeUndefined();
    expect(server.requests[1]?.headers['last-event-id']).toBe('2');
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer t0k')).toBe(true);
    expect(statuses).toEqual(['connecting', 'live', 'reconnecting', 'live', 'closed']);
  });

  it('sends the resume point on the first connection when given one', async () => {
    server = await startServer((_request, response) => {
      openStream(response);
      response.end(frame(11, 'task.state', {}));
    });
    const abort = new AbortController();
    const url = `${server.url}/v1/runs/r1/events`;
    for await (const message of followSse({ target: () => Promise.resolve({ url, headers: {} }), signal: abort.signal, lastEventId: '10', retryMs: 5 })) {
      expect(message.id).toBe('11');
      abort.abort();
    }
    expect(server.requests[0]?.headers['last-event-id']).toBe('10');
  });

  it('asks for the target again before each attempt and retries after a 401', async () => {
    const tokens: string[] = [];
    server = await startServer((request, response) => {
      tokens.push(String(request.headers.authorization));
      if (request.headers.authorization !== 'Bearer new') {
        response.writeHead(401, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ error: { status: 401, code: 'unauthorized', message: 'wrong token' } }));
        return;
      }
      openStream(response);
      response.end(frame(1, 'run.created', {}));
    });
    const abort = new AbortController();
    const statuses: StreamStatus[] = [];
    let asked = 0;
    const url = `${server.url}/v1/events`;
    for await (const message of followSse({
      target: () => Promise.resolve({ url, headers: { Authorization: `Bearer ${asked++ === 0 ? 'old' : 'new'}` } }),
      signal: abort.signal,
      retryMs: 5,
      onStatus: (status) => statuses.push(status),
    })) {
      expect(message.id).toBe('1');
      abort.abort();
    }
    expect(tokens).toEqual(['Bearer old', 'Bearer new']);
    expect(statuses.slice(0, 3)).toEqual(['connecting', 'unauthorized', 'reconnecting']);
  });

  it('gives up on a 404 with the daemon error', async () => {
    server = await startServer((_request, response) => {
      response.writeHead(404, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ error: { status: 404, code: 'run_not_found', message: 'no run r9' } }));
    });
    const url = `${server.url}/v1/runs/r9/events`;
    const follow = async (): Promise<void> => {
      for await (const message of followSse({ target: () => Promise.resolve({ url, headers: {} }), signal: new AbortController().signal, retryMs: 5 })) {
        throw new Error(`unexpected message ${message.data}`);
      }
    };
    await expect(follow()).rejects.toMatchObject({ status: 404, code: 'run_not_found', message: 'no run r9' });
  });

  it('keeps retrying while nothing listens on the port, then connects', async () => {
    const probe = await startServer((_request, response) => {
      response.end();
    });
    const url = probe.url;
    await probe.close();
    let attempts = 0;
    const abort = new AbortController();
    const statuses: StreamStatus[] = [];
    const messages = followSse({
      target: async () => {
        attempts++;
        if (attempts === 3) {
          server = await startServer((_request, response) => {
            openStream(response);
            response.end(frame(5, 'run.started', {}));
          });
        }
        return { url: attempts >= 3 && server ? server.url : url, headers: {} };
      },
      signal: abort.signal,
      retryMs: 5,
      onStatus: (status) => statuses.push(status),
    });
    for await (const message of messages) {
      expect(message.id).toBe('5');
      abort.abort();
    }
    expect(attempts).toBe(3);
    expect(statuses.slice(0, 4)).toEqual(['connecting', 'reconnecting', 'reconnecting', 'live']);
  });

  it('closes the connection when the consumer stops early', async () => {
    let closed: Promise<void> | undefined;
    server = await startServer((_request, response, raw) => {
      closed = new Promise((resolve) => raw.socket.once('close', () => resolve()));
      openStream(response);
      response.write(frame(1, 'run.created', {}));
    });
    const url = `${server.url}/v1/events`;
    for await (const message of followSse({ target: () => Promise.resolve({ url, headers: {} }), signal: new AbortController().signal, retryMs: 5 })) {
      expect(message.id).toBe('1');
      break;
    }
    await closed;
  });
});
