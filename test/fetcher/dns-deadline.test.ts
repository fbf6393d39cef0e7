/**
 * The fetcher's default resolver (fetch/dns.ts): c-ares with a hard deadline, against a DNS server of ours on a
 * loopback port (no namespace needed: the resolver is pointed at it with `servers`).
 */
import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createDeadlineLookup } from '../../packages/oidc-provider-cimd/src/fetch/dns.js';
import { createCheckedLookup } from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { createAddressPolicy } from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { type DnsServer, startDnsServer } from '../hostile/dns-server.js';

let server: DnsServer;
let servers: string[];

beforeAll(async () => {
  server = await startDnsServer({
    answers: {
      'docs.example.net': ['93.184.216.10', '2606:2800:220:1::10'],
      'v4only.example.net': ['93.184.216.11'],
      'mixed.example.net': ['93.184.216.12', '10.0.0.1'],
    },
    blackHole: (name) => name.startsWith('never.'),
  });
  servers = [`127.0.0.1:${server.port}`];
});
afterAll(() => server.close());

type Answer = { err: NodeJS.ErrnoException | null; addresses: { address: string; family: number }[]; ms: number };

function lookupAll(lookup: ReturnType<typeof createDeadlineLookup>, name: string, family?: number): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    lookup(name, { all: true, ...(family ? { family } : {}) }, (err, addresses) =>
      resolve({
        err,
        addresses: Array.isArray(addresses) ? addresses : [],
        ms: performance.now() - started,
      }),
    );
  });
}

describe('deadline resolver', () => {
  test('answers A and AAAA together, and honours a family', async () => {
    const lookup = createDeadlineLookup({ servers });
    const both = await lookupAll(lookup, 'docs.example.net');
    expect(both.err).toBeNull();
    expect(both.addresses).toEqual(
      expect.arrayContaining([
        { address: '93.184.216.10', family: 4 },
        { address: '2606:2800:220:1::10', family: 6 },
      ]),
    );
    const v6 = await lookupAll(lookup, 'docs.example.net', 6);
    expect(v6.addresses).toEqual([{ address: '2606:2800:220:1::10', family: 6 }]);
    // The non-`all` callback shape.
    const single = await new Promise<[unknown, unknown, unknown]>((resolve) =>
      lookup('v4only.example.net', {}, (err, address, family) => resolve([err, address, family])),
    );
    expect(single).toEqual([null, '93.184.216.11', 4]);
  });

  test('a name that never gets an answer fails at the deadline, and leaves nothing running', async () => {
    const lookup = createDeadlineLookup({ servers, timeoutMs: 400 });
    const before = server.queries.length;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => lookupAll(lookup, `never.${i}.example.net`)),
    );
    for (const answer of answers) {
      expect(answer.err?.code).toBe('ETIMEOUT');
      expect(answer.ms).toBeGreaterThanOrEqual(390);
      expect(answer.ms).toBeLessThan(2000);
    }
    // Every name was really asked (A and AAAA).
    expect(server.queries.length - before).toBeGreaterThanOrEqual(40);
    // Meanwhile and afterwards, an answered name is not held up.
    const ok = await lookupAll(lookup, 'v4only.example.net');
    expect(ok.err).toBeNull();
    // Cancelled at the deadline: no retry of a black-holed name reaches the server once it has failed.
    const after = server.queries.length;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(server.queries.length).toBe(after);
  });

  test('unknown names fail as not found; IP literals are passed through', async () => {
    const lookup = createDeadlineLookup({ servers });
    const missing = await lookupAll(lookup, 'nothing.example.net');
    expect(['ENOTFOUND', 'ENODATA']).toContain(missing.err?.code);
    const literal = await lookupAll(lookup, '93.184.216.99');
    expect(literal.addresses).toEqual([{ address: '93.184.216.99', family: 4 }]);
  });

  test('the address policy still checks every answer', async () => {
    const checked = createCheckedLookup(createAddressPolicy(), createDeadlineLookup({ servers }));
    const refused = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      checked('mixed.example.net', { all: true }, (err) => resolve(err)),
    );
    expect(refused).toMatchObject({ code: 'rejected:address' });
  });

  test('localhost goes to the system resolver (hosts file) only under the development exception', async () => {
    const dev = await lookupAll(createDeadlineLookup({ servers, allowLoopback: true }), 'localhost');
    expect(dev.err).toBeNull();
    const system = await dns.promises.lookup('localhost', { all: true });
    expect(dev.addresses.map((a) => a.address).sort()).toEqual(system.map((a) => a.address).sort());
    // Without it, `localhost` is a DNS question like any other (our server does not know it).
    const prod = await lookupAll(createDeadlineLookup({ servers }), 'localhost');
    expect(prod.err).not.toBeNull();
  });

  test('under the development exception, concurrent localhost lookups take turns instead of failing', async () => {
    const lookup = createDeadlineLookup({ servers, allowLoopback: true });
    const answers = await Promise.all(Array.from({ length: 20 }, () => lookupAll(lookup, 'localhost')));
    for (const answer of answers) expect(answer.err).toBeNull();
  });

  test('a deadline that is not a positive number is refused', () => {
    expect(() => createDeadlineLookup({ timeoutMs: 0 })).toThrow(/dnsTimeoutMs/);
    expect(() => createDeadlineLookup({ timeoutMs: Number.NaN })).toThrow(/dnsTimeoutMs/);
  });
});
