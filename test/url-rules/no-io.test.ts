/**
 * A client_id that fails the URL rules never causes network activity: no DNS lookup, no fetch, one
 * `rejected:url` event, and the lookup falls through as "not a CIMD client".
 */
import { jest } from '@jest/globals';
import { type CimdEvent, createCimd } from 'oidc-provider-cimd';

const ISSUER = 'https://as.acme.com';
const REJECTED = [
  'http://client.acme.com/doc',
  'HTTPS://client.acme.com/doc',
  'https://CLIENT.acme.com/doc',
  'https://client.acme.com:443/doc',
  'https://client.acme.com',
  'https://client.acme.com/',
  'https://client.acme.com/doc?',
  'https://client.acme.com/doc?v=1',
  'https://client.acme.com/doc#',
  'https://client.acme.com/doc#x',
  'https://@client.acme.com/doc',
  'https://user:pass@client.acme.com/doc',
  'https://client.acme.com/./doc',
  'https://client.acme.com/a/../doc',
  'https://client.acme.com/%2e/doc',
  'https://client.acme.com/%2E%2e/doc',
  'https://client.acme.com/.%2e/doc',
  'https://client.acme.com/a\\doc',
  'https://client.acme.com/a doc',
  'https://client.acme.com/a\tdoc',
  'https://client.acme.com/a\u007fdoc',
  'https://client.acme.com/dök',
  'https://bücher.de/doc',
  'https://ex%61mple.com/doc',
  'https://127.0.0.1/doc',
  'https://2130706433/doc',
  'https://0x7f.1/doc',
  'https://[::1]/doc',
  'https://10.0.0.1/doc',
  'https://169.254.169.254/latest/meta-data',
  'https://localhost/doc',
  'https://foo.localhost/doc',
  'https://printer.local/doc',
  'https://svc.internal/doc',
  'https://a.test/doc',
  'https://a.invalid/doc',
  'https://www.example/doc',
  'https://nas.home.arpa/doc',
  'https://abc.onion/doc',
  'https://intranet/doc',
  'https://client.acme.com./doc',
  'https://as.acme.com/client.json',
  `https://client.acme.com/${'a'.repeat(2100)}`,
];

test.each(REJECTED.map((cid) => [cid.length > 80 ? `${cid.slice(0, 60)}… (${cid.length} chars)` : cid, cid]))(
  '%s: rejected before any I/O',
  async (_label, cid) => {
    const events: CimdEvent[] = [];
    const lookups: string[] = [];
    const cimd = createCimd({
      issuer: ISSUER,
      onEvent: (event) => events.push(event),
      lookup: ((hostname: string) => {
        lookups.push(hostname);
        throw new Error('no DNS in this test');
      }) as never,
    });
    cimd.configure({});
    const fetchDocument = jest.spyOn(cimd.fetcher, 'fetchDocument');
    try {
      await expect(cimd.resolve(cid)).resolves.toBeUndefined();
      expect(fetchDocument).not.toHaveBeenCalled();
      expect(lookups).toEqual([]);
      expect(events.map((e) => e.reason)).toEqual(['rejected:url']);
    } finally {
      await cimd.close();
    }
  },
);
