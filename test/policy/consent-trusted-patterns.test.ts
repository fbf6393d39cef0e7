/**
 * `consent.trusted` takes the trust policy's pattern forms (it compiles them with the same `compilePatterns`): a
 * URL pattern marks exactly the ids of one path segment as trusted, and `known` the catalog.
 */
import { createCimd } from 'oidc-provider-cimd';
import { Browser, type DocumentHost, startConsentHarness, startDocumentHost, webDocument } from '../consent/support.js';

const WEB = 'https://app.example.org/cb';

describe('consent.trusted with URL patterns', () => {
  let host: DocumentHost;
  beforeAll(async () => {
    host = await startDocumentHost();
  });
  afterAll(() => host.close());

  test('a URL pattern trusts one path segment, nothing wider', async () => {
    const op = await startConsentHarness({
      cimd: { consent: { trusted: ['known', `${host.origin}/connectors/*/client.json`] } },
    });
    try {
      const one = host.publish('/connectors/abc/client.json', webDocument([WEB]));
      const two = host.publish('/connectors/a/b/client.json', webDocument([WEB]));
      await op.authorize(new Browser(), one, WEB);
      expect(op.prompts.filter((p) => p.view).at(-1)?.view).toMatchObject({
        clientId: one,
        trusted: true,
        isNew: false,
      });
      await op.authorize(new Browser(), two, WEB);
      expect(op.prompts.filter((p) => p.view).at(-1)?.view).toMatchObject({
        clientId: two,
        trusted: false,
        isNew: true,
      });
    } finally {
      await op.close();
    }
  });

  test('a bad pattern in consent.trusted stops startup, naming it', () => {
    expect(() =>
      createCimd({
        issuer: 'http://localhost:3999',
        consent: { trusted: ['https://chatgpt.com/oauth/*/client.json?x=1'] },
      }),
    ).toThrow(/"https:\/\/chatgpt\.com\/oauth\/\*\/client\.json\?x=1".*query/);
  });
});
