/**
 * The address policy as the fetcher enforces it at connect time, with hostile DNS answers injected. A victim
 * TCP server on 127.0.0.2 listens on the port every URL names; it must never see a connection.
 */
import net from 'node:net';
import { CimdError, PUBLIC_RETRIEVAL_MESSAGE } from '../../packages/oidc-provider-cimd/src/core/errors.js';
import {
  createCheckedLookup,
  createFetcher,
  type Fetcher,
  type FetcherOptions,
} from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { checkAddress, createAddressPolicy } from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, startVictim, type TestHttpsServer, type TestVictim } from '../helpers/https-server.js';
import { createResolver, sequence } from '../helpers/resolver.js';

/** Hostile answers that no policy may dial. */
const HOSTILE: readonly string[] = [
  '10.0.0.1',
  '172.16.0.1',
  '192.168.1.1',
  '169.254.169.254',
  '100.64.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '224.0.0.1',
  '192.0.2.1',
  '198.51.100.1',
  '203.0.113.1',
  '168.63.129.16',
  '::',
  '::ffff:127.0.0.2',
  '::ffff:10.0.0.1',
  '::7f00:2',
  '64:ff9b::7f00:2',
  '2002:7f00:2::1',
  '2001::1',
  'fc00::1',
  'fd00::2',
  'fe80::1',
  'fe80::1%eth0',
  '2001:db8::1',
  '3fff::1',
  'ff02::1',
];
/** Refused unless the development exception is on. */
const LOOPBACK: readonly string[] = ['127.0.0.1', '127.0.0.2', '::1'];

let victim: TestVictim;
let ca: string;
const fetchers: Fetcher[] = [];

function makeFetcher(options: Partial<FetcherOptions> & { allowLoopback?: boolean; denyList?: string[] }): Fetcher {
  const { allowLoopback, denyList, ...rest } = options;
  const fetcher = createFetcher({
    addressPolicy: createAddressPolicy({ allowLoopback, ...(denyList ? { denyList } : {}) }),
    ca,
    timeoutMs: 1000,
    connectTimeoutMs: 500,
    ...rest,
  });
  fetchers.push(fetcher);
  return fetcher;
}

async function failure(promise: Promise<unknown>): Promise<CimdError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CimdError);
    return error as CimdError;
  }
  throw new Error('expected the fetch to fail');
}

const nameFor = (address: string) => `h-${address.replace(/[^0-9a-z]/gi, '-')}.cimd.test`;

beforeAll(async () => {
  ca = (await getTestCertificate()).cert;
  victim = await startVictim('127.0.0.2');
});

afterEach(() => {
  expect(victim.connections).toBe(0);
});

afterAll(async () => {
  await Promise.all(fetchers.map((f) => f.close()));
  await victim.close();
});

describe('the victim detector works', () => {
  test('a permitted answer for the victim does reach it (so zero counts elsewhere mean something)', async () => {
    const canary = await startVictim('127.0.0.2');
    try {
      const lookup = createResolver({ 'canary.cimd.test': ['127.0.0.2'] });
      const error = await failure(
        makeFetcher({ allowLoopback: true, lookup }).fetchDocument(`https://canary.cimd.test:${canary.port}/`),
      );
      expect(error.code).toBe('rejected:network');
      expect(canary.connections).toBe(1);
    } finally {
      await canary.close();
    }
  });
});

describe('hostile DNS answers are refused before dialling', () => {
  test.each([...HOSTILE, ...LOOPBACK])('sole answer %s → rejected:address', async (address) => {
    const host = nameFor(address);
    const lookup = createResolver({ [host]: [address] });
    const error = await failure(makeFetcher({ lookup }).fetchDocument(`https://${host}:${victim.port}/doc`));
    expect(error.code).toBe('rejected:address');
    expect(lookup.calls.length).toBeGreaterThan(0);
    expect(error.publicMessage).toBe(PUBLIC_RETRIEVAL_MESSAGE);
    expect(error.publicMessage).not.toContain(address);
  });

  // The victim's own address comes first and is allowed here: a fetcher checking only the address it dials
  // first, or filtering instead of refusing, would connect to the victim.
  test.each(HOSTILE)('answer set [127.0.0.2, %s] with loopback allowed → rejected:address', async (address) => {
    const host = nameFor(address);
    const lookup = createResolver({ [host]: ['127.0.0.2', address] });
    const error = await failure(
      makeFetcher({ allowLoopback: true, lookup }).fetchDocument(`https://${host}:${victim.port}/doc`),
    );
    expect(error.code).toBe('rejected:address');
  });

  test('one private address among public ones → rejected:address', async () => {
    const lookup = createResolver({ 'mixed.cimd.test': ['8.8.8.8', '2606:4700:4700::1111', '1.1.1.1', '10.1.2.3'] });
    const error = await failure(makeFetcher({ lookup }).fetchDocument(`https://mixed.cimd.test:${victim.port}/doc`));
    expect(error.code).toBe('rejected:address');
    expect(error.message).toContain('10.1.2.3');
  });

  test('the victim hidden among public answers → rejected:address', async () => {
    const lookup = createResolver({ 'mixed2.cimd.test': ['8.8.8.8', '127.0.0.2'] });
    const error = await failure(makeFetcher({ lookup }).fetchDocument(`https://mixed2.cimd.test:${victim.port}/doc`));
    expect(error.code).toBe('rejected:address');
  });

  test('a deny-listed answer is refused even under the loopback exception', async () => {
    const lookup = createResolver({ 'denied.cimd.test': ['127.0.0.2'] });
    const fetcher = makeFetcher({ allowLoopback: true, denyList: ['127.0.0.2/32'], lookup });
    const error = await failure(fetcher.fetchDocument(`https://denied.cimd.test:${victim.port}/doc`));
    expect(error.code).toBe('rejected:address');
  });
});

describe('DNS rebinding', () => {
  test('a name that passed an earlier check but answers loopback at connect time is refused', async () => {
    const lookup = createResolver({ 'rebind.cimd.test': sequence(['93.184.216.34'], ['127.0.0.2']) });
    // What a naive validate-then-fetch design would do first: resolve and check...
    const early = await new Promise<string>((resolve, reject) =>
      lookup('rebind.cimd.test', {}, (err, address) => (err ? reject(err) : resolve(address as string))),
    );
    expect(checkAddress(early, createAddressPolicy()).allowed).toBe(true);
    // ...but the fetcher's own, checked lookup is the one whose answer gets dialled.
    const error = await failure(makeFetcher({ lookup }).fetchDocument(`https://rebind.cimd.test:${victim.port}/doc`));
    expect(error.code).toBe('rejected:address');
    expect(lookup.calls.length).toBe(2);
  });

  describe('across fetches', () => {
    let server: TestHttpsServer;
    let neighbour: TestVictim;

    beforeAll(async () => {
      // The server on 127.0.0.1 and a victim on 127.0.0.2 share one port, so one URL can reach either.
      for (let attempt = 0; ; attempt += 1) {
        server = await startHttpsServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
        try {
          neighbour = await startVictim('127.0.0.2', { port: server.port });
          break;
        } catch (error) {
          await server.close();
          if (attempt === 4) throw error;
        }
      }
    });
    afterAll(async () => {
      await Promise.all([server.close(), neighbour.close()]);
    });

    test('each fetch resolves and checks again: the second, rebound answer is refused', async () => {
      const lookup = createResolver({ 'flip.cimd.test': sequence(['127.0.0.1'], ['127.0.0.2']) });
      // Loopback allowed for the "public" 127.0.0.1; 127.0.0.2 plays the internal address.
      const fetcher = makeFetcher({ allowLoopback: true, denyList: ['127.0.0.2/32'], lookup });
      const url = `https://flip.cimd.test:${server.port}/doc`;
      await expect(fetcher.fetchDocument(url)).resolves.toMatchObject({ status: 200 });
      const error = await failure(fetcher.fetchDocument(url));
      expect(error.code).toBe('rejected:address');
      expect(server.hits).toBe(1);
      expect(neighbour.connections).toBe(0);
    });
  });
});

describe('IP-literal URLs are checked before connecting (Node skips lookup for them)', () => {
  test.each([
    'https://127.0.0.2:PORT/x',
    'https://[::ffff:127.0.0.2]:PORT/',
    'https://0x7f000002:PORT/',
    'https://2130706434:PORT/',
  ])('%s → rejected:address without a lookup', async (url) => {
    const lookup = createResolver({});
    const error = await failure(makeFetcher({ lookup }).fetchDocument(url.replace('PORT', String(victim.port))));
    expect(error.code).toBe('rejected:address');
    expect(lookup.calls).toEqual([]);
  });

  test('an IPv4-mapped literal is refused even under the loopback exception', async () => {
    const error = await failure(
      makeFetcher({ allowLoopback: true }).fetchDocument(`https://[::ffff:127.0.0.2]:${victim.port}/`),
    );
    expect(error.code).toBe('rejected:address');
  });

  test.each(['10.0.0.1', '169.254.169.254', '[::1]', '[fe80::1]', '[fd00::2]', '[64:ff9b::a9fe:a9fe]'])(
    'https://%s/ → rejected:address',
    async (host) => {
      const error = await failure(makeFetcher({}).fetchDocument(`https://${host}:${victim.port}/`));
      expect(error.code).toBe('rejected:address');
    },
  );
});

describe('createCheckedLookup', () => {
  const policy = createAddressPolicy();
  const call = (lookup: ReturnType<typeof createCheckedLookup>, options: object) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }>((resolve) =>
      lookup('x.cimd.test', options as never, (err, address, family) => resolve({ err, address, family })),
    );

  test('answers in the shape asked for: all → array, otherwise (address, family)', async () => {
    const checked = createCheckedLookup(policy, createResolver({ 'x.cimd.test': ['8.8.8.8', '2606:4700:4700::1111'] }));
    expect(await call(checked, { all: true })).toMatchObject({
      err: null,
      address: [
        { address: '8.8.8.8', family: 4 },
        { address: '2606:4700:4700::1111', family: 6 },
      ],
    });
    expect(await call(checked, {})).toMatchObject({ err: null, address: '8.8.8.8', family: 4 });
    expect(await call(checked, { family: 6 })).toMatchObject({ err: null, address: '2606:4700:4700::1111', family: 6 });
  });

  test('asks its resolver for all addresses even when the caller wants one', async () => {
    const resolver = createResolver({ 'x.cimd.test': ['8.8.8.8', '10.0.0.1'] });
    const { err } = await call(createCheckedLookup(policy, resolver), {});
    expect(err).toMatchObject({ code: 'rejected:address' });
    expect(resolver.calls[0]!.all).toBe(true);
  });

  test('checks every address even when the caller filters by family', async () => {
    const resolver = ((_host: string, _opts: unknown, cb: (...args: unknown[]) => void) =>
      cb(null, [
        { address: '8.8.8.8', family: 4 },
        { address: 'fd00::1', family: 6 },
      ])) as unknown as net.LookupFunction;
    const { err } = await call(createCheckedLookup(policy, resolver), { family: 4 });
    expect(err).toMatchObject({ code: 'rejected:address' });
  });

  test('copes with a resolver that ignores `all` and answers (address, family)', async () => {
    const single = ((_host: string, _opts: unknown, cb: (...args: unknown[]) => void) =>
      cb(null, '8.8.4.4', 4)) as unknown as net.LookupFunction;
    expect(await call(createCheckedLookup(policy, single), { all: true })).toMatchObject({
      address: [{ address: '8.8.4.4', family: 4 }],
    });
    const hostile = ((_host: string, _opts: unknown, cb: (...args: unknown[]) => void) =>
      cb(null, '127.0.0.1', 4)) as unknown as net.LookupFunction;
    expect((await call(createCheckedLookup(policy, hostile), {})).err).toMatchObject({ code: 'rejected:address' });
  });

  test('an empty answer and a resolver error are failures, not an allowance', async () => {
    const empty = ((_h: string, _o: unknown, cb: (...args: unknown[]) => void) =>
      cb(null, [])) as unknown as net.LookupFunction;
    expect((await call(createCheckedLookup(policy, empty), { all: true })).err).toMatchObject({ code: 'ENOTFOUND' });
    const failing = createResolver({});
    expect((await call(createCheckedLookup(policy, failing), {})).err).toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('both lookup shapes end to end', () => {
  let server: TestHttpsServer;
  beforeAll(async () => {
    server = await startHttpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  afterAll(() => server.close());

  test.each([true, false])('autoSelectFamily=%s: allowed answer connects, hostile answer is refused', async (auto) => {
    const previous = net.getDefaultAutoSelectFamily();
    net.setDefaultAutoSelectFamily(auto);
    try {
      const lookup = createResolver({ 'ok.cimd.test': ['127.0.0.1'], 'bad.cimd.test': ['127.0.0.1', '10.0.0.1'] });
      const fetcher = makeFetcher({ allowLoopback: true, lookup });
      const result = await fetcher.fetchDocument(`https://ok.cimd.test:${server.port}/`);
      expect(result.body.toString()).toBe('{"ok":true}');
      // Node asks for all addresses only when it may try several; the checked lookup always does.
      expect(lookup.calls[0]).toMatchObject({ hostname: 'ok.cimd.test', all: true });
      const error = await failure(fetcher.fetchDocument(`https://bad.cimd.test:${server.port}/`));
      expect(error.code).toBe('rejected:address');
      expect(server.hits).toBe(auto ? 1 : 2);
    } finally {
      net.setDefaultAutoSelectFamily(previous);
    }
  });
});
