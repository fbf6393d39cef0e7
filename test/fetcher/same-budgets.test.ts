/**
 * "The same guarded fetcher, and the same budgets (§5), are used for every URL the server fetches on a client's
 * behalf (`jwks_uri`, `logo_uri`, `sector_identifier_uri`)" (contract §3; draft-ietf-oauth-client-id-metadata-
 * document-03 §9.6 on the server's outbound requests). Documents, a consent logo and oidc-provider's own
 * `sector_identifier_uri` request draw on one per-host budget: once the documents have spent a host's budget,
 * neither of the others reaches that host, and another host is untouched.
 */
import { Keyv } from '@keyv/redis';
import { Provider } from 'oidc-provider';
import { type Cimd, createCimd } from 'oidc-provider-cimd';
import { LogoProxy } from '../../packages/oidc-provider-cimd/src/consent/logo.js';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';
import { circlePng } from '../consent/images.js';
import { type DocumentHost, startDocumentHost, webDocument } from '../consent/support.js';
import { getTestCertificate } from '../helpers/certs.js';

const ISSUER = 'http://localhost:4000';

describe('one budget for documents, logos and sector_identifier_uri', () => {
  let host: DocumentHost;
  let cimd: Cimd;
  let provider: Provider;
  // The same server under another name: `localhost` is its own host and its own registrable domain.
  let otherOrigin: string;

  // A registered client with a pairwise subject: oidc-provider fetches its sector_identifier_uri itself.
  const sectorClient = (id: string, origin: string) => ({
    client_id: id,
    client_secret: 'a-secret-of-at-least-thirty-two-characters',
    redirect_uris: ['https://app.example.com/cb'],
    subject_type: 'pairwise' as const,
    sector_identifier_uri: `${origin}/sector.json`,
  });

  beforeEach(async () => {
    host = await startDocumentHost();
    otherOrigin = host.origin.replace('127.0.0.1', 'localhost');
    host.route('/logo.png', { type: 'image/png', body: circlePng(16) });
    host.route('/sector.json', { body: JSON.stringify(['https://app.example.com/cb']) });
    cimd = createCimd({
      issuer: ISSUER,
      allowLoopback: true,
      ca: (await getTestCertificate()).cert,
      failureBackoffMs: 0,
      // Two fetches per host, and no refill within the test.
      budget: { perHostBurst: 2, perHostPerSecond: 0.001 },
    });
    provider = new Provider(
      ISSUER,
      cimd.configure({
        subjectTypes: ['public', 'pairwise'],
        clients: [sectorClient('spent-host', host.origin), sectorClient('other-host', otherOrigin)],
      }),
    );
    // The documents spend the budget of 127.0.0.1.
    for (const name of ['a', 'b']) {
      const cid = host.publish(`/${name}.json`, webDocument(['https://app.example.com/cb']));
      expect(await cimd.resolve(cid)).toBeDefined();
    }
  });
  afterEach(async () => {
    await cimd.close();
    await host.close();
  });

  test('a logo on a host whose budget the documents spent is not fetched (rate_limited); on another host it is', async () => {
    const logos = new LogoProxy({
      fetcher: cimd.fetcher,
      store: new Keyv(),
      guard: new SharedGuard({ timeoutMs: 1000 }),
      now: Date.now,
    });
    const cid = `${host.origin}/a.json`;
    const refused = await logos.ensure(cid, `${host.origin}/logo.png`, Date.now() + 60_000);
    expect(refused).toEqual({ ok: false, reason: 'rate_limited' });
    expect(host.hits('/logo.png')).toBe(0);

    const shown = await logos.ensure(cid, `${otherOrigin}/logo.png`, Date.now() + 60_000);
    expect(shown).toMatchObject({ ok: true, type: 'image/png' });
    expect(host.hits('/logo.png')).toBe(1);
  });

  test("oidc-provider's sector_identifier_uri request goes through the plugin's fetch hook and its budget", async () => {
    // oidc-provider validates a static client's sector_identifier_uri when the client is first loaded.
    await expect(provider.Client.find('spent-host')).rejects.toMatchObject({
      error: 'invalid_client_metadata',
      error_description: 'could not load sector_identifier_uri response',
    });
    expect(host.hits('/sector.json')).toBe(0);

    expect(await provider.Client.find('other-host')).toMatchObject({
      sectorIdentifierUri: `${otherOrigin}/sector.json`,
    });
    expect(host.hits('/sector.json')).toBe(1);
  });
});
