import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalDaemonUrl, parseCredentials, SECRET_KEY, WebConnector } from '../../src/web/connection';
import { silentLogger } from '../../src/common/util/logger';
import { startFakeDaemon, type FakeDaemon } from '../helpers/fakeDaemon';
import { fake } from '../fakes/vscode';

class MemorySecrets {
  readonly values = new Map<string, string>();
  get = (key: string) => Promise.resolve(this.values.get(key));
  store = (key: string, value: string) => Promise.resolve(void this.values.set(key, value));
  delete = (key: string) => Promise.resolve(void this.values.delete(key));
  onDidChange = () => ({ dispose: () => undefined });
}

describe('the web connection', () => {
  let daemon: FakeDaemon;
  beforeEach(async () => {
    fake.reset();
    daemon = await startFakeDaemon('web-token');
  });
  afterEach(() => daemon.close());

  it('accepts only plain http(s) URLs, without credentials in them', () => {
    expect(normalDaemonUrl(' http://127.0.0.1:8787/ ')).toBe('http://127.0.0.1:8787');
    expect(normalDaemonUrl('https://box.localhost/parallelai/')).toBe('https://box.localhost/parallelai');
    expect(normalDaemonUrl('ftp://127.0.0.1')).toBeUndefined();
    expect(normalDaemonUrl('http://user:pw@127.0.0.1')).toBeUndefined();
    expect(normalDaemonUrl('not a url')).toBeUndefined();
    expect(parseCredentials({ url: 'http://127.0.0.1:1', token: '' })).toBeUndefined();
  });

  it('checks the daemon answers, then keeps URL and token together in the secret storage', async () => {
    const secrets = new MemorySecrets();
    const connector = new WebConnector(secrets, silentLogger);
    expect(await connector.start()).toBeUndefined();
    fake.inputBoxAnswers.push(`${daemon.url}/`, 'web-token');
    const api = await connector.connect();
    expect(api?.description).toBe(daemon.url);
    expect(JSON.parse(secrets.values.get(SECRET_KEY)!)).toEqual({ url: daemon.url, token: 'web-token' });
    expect(daemon.requests.at(-1)).toMatchObject({ url: '/v1/health' });
    const again = await new WebConnector(secrets, silentLogger).start();
    expect((await again?.listRuns())?.length).toBe(0);
    await connector.forget();
    expect(secrets.values.size).toBe(0);
  });

  it('stores nothing when the daemon refuses the token', async () => {
    const secrets = new MemorySecrets();
    await expect(new WebConnector(secrets, silentLogger).connect({ url: daemon.url, token: 'wrong' })).rejects.toMatchObject({ code: 'unauthorized' });
    expect(secrets.values.size).toBe(0);
  });

  it('falls back to the daemonUrl and daemonToken settings', async () => {
    fake.settings.set('parallelai.daemonUrl', daemon.url);
    fake.settings.set('parallelai.daemonToken', 'web-token');
    const api = await new WebConnector(new MemorySecrets(), silentLogger).start();
    expect(await api?.listTemplates()).toHaveLength(1);
  });
});
