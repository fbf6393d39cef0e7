/**
 * The example's logging: one info line per authorization at most (the fetch of a new document), routine
 * lookups at debug; `LOG_LEVEL` filters.
 */
import { atLeast, cimdLogEntry, type LogEntry } from '../../examples/koa-server/src/log.js';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { Browser } from '../helpers/browser.js';

describe('example logging', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('logs at most one info line per authorization: the first fetches the document, the next logs none', async () => {
    const cid = host.publish('/logged.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const entries: LogEntry[] = [];
    const example = await startExample({ allowLoopback: true, onEvent: (event) => entries.push(cimdLogEntry(event)) });
    try {
      const browser = new Browser();
      const info = () => entries.filter((entry) => entry.level !== 'debug');
      expect((await browser.authorize(authorizationUrl(example.issuer, cid))).redirect).toBeDefined();
      expect(info().map((entry) => entry.reason)).toEqual(['fetched']);
      // The same authorization looks the client up many times; those lines exist, at debug.
      expect(entries.length).toBeGreaterThan(3);
      entries.length = 0;
      expect((await browser.authorize(authorizationUrl(example.issuer, cid))).redirect).toBeDefined();
      expect(info()).toEqual([]);
    } finally {
      await example.close();
    }
  });

  it('LOG_LEVEL keeps the entries at its level and above', () => {
    const kept: LogEntry[] = [];
    const log = atLeast('info', (entry) => kept.push(entry));
    log({ event: 'a', level: 'debug' });
    log({ event: 'b' });
    log({ event: 'c', level: 'warn' });
    expect(kept.map((entry) => entry.event)).toEqual(['b', 'c']);
    const warnOnly: LogEntry[] = [];
    atLeast('warn', (entry) => warnOnly.push(entry))({ event: 'd', level: 'info' });
    expect(warnOnly).toEqual([]);
  });
});
