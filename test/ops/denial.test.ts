/**
 * The denial page over plain HTTP, through the example: a CIMD client refused by the trust policy, by the
 * document rules, or because its document cannot be retrieved gets a page that names its host, the reason in
 * plain words and whom to ask; the operator gets the same facts with the line that would admit it
 * (`CIMD_ALLOW=...` in the example). Details on the page only in development or when opted in; other errors
 * keep the deployment's own page.
 */
import { CimdError, type Denial, describeDenial, renderDenialPage } from 'oidc-provider-cimd';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { decodeEntities } from '../helpers/browser.js';
import { startHttpsServer } from '../helpers/https-server.js';

const text = (html: string, id: string) => {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(?:p|span|dd|div|dl)>`).exec(html);
  return match ? decodeEntities((match[1] as string).replace(/<[^>]+>/g, '')).trim() : undefined;
};

describe('denial page', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('a client refused by the allow list: its host, plain words, whom to ask; the operator gets CIMD_ALLOW', async () => {
    const lines: Record<string, unknown>[] = [];
    const denials: Denial[] = [];
    const example = await startExample({
      allow: ['https://allowed-app.com/client.json'],
      log: (entry) => lines.push(entry),
      cimd: { denialPage: { contact: 'the IT help desk (help@corp.example)', onDenial: (d) => denials.push(d) } },
    });
    try {
      const cid = 'https://tools.vendorapp.com/oauth/client.json';
      const response = await fetch(authorizationUrl(example.issuer, cid));
      const html = await response.text();
      expect(response.status).toBe(400);
      expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(text(html, 'client-host')).toBe('tools.vendorapp.com');
      expect(text(html, 'denial-reason')).toBe(
        'This service only accepts applications its administrators have approved, and the application at tools.vendorapp.com is not one of them (yet).',
      );
      expect(text(html, 'denial-ask')).toBe(
        'If you need this application, ask the IT help desk (help@corp.example) to allow it, and give them the address tools.vendorapp.com.',
      );
      // Not development, not opted in: the operator's facts stay off the page.
      expect(html).not.toContain('operator-details');
      expect(html).not.toContain('CIMD_ALLOW');
      expect(denials).toEqual([
        expect.objectContaining({
          clientId: cid,
          host: 'tools.vendorapp.com',
          code: 'rejected:policy',
          kind: 'policy',
          admit: `CIMD_ALLOW=https://allowed-app.com/client.json,${cid}`,
        }),
      ]);
    } finally {
      await example.close();
    }
    expect(lines.filter((line) => line.event === 'cimd_denied')).toEqual([]);
  });

  it('the example logs each denial with what would admit the client', async () => {
    const lines: Record<string, unknown>[] = [];
    const example = await startExample({ allow: ['https://allowed-app.com/client.json'], log: (e) => lines.push(e) });
    try {
      const cid = 'https://other-app.com/client.json';
      const response = await fetch(authorizationUrl(example.issuer, cid));
      await response.body?.cancel();
      expect(lines.filter((line) => line.event === 'cimd_denied')).toEqual([
        expect.objectContaining({
          level: 'warn',
          clientId: cid,
          code: 'rejected:policy',
          admit: `CIMD_ALLOW=https://allowed-app.com/client.json,${cid}`,
        }),
      ]);
    } finally {
      await example.close();
    }
  });

  it('a document the rules refuse, or one that cannot be retrieved: the developer is who to tell; development shows the fix', async () => {
    const server = await startHttpsServer((req, res) => {
      if (req.url === '/mismatch.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            ...loopbackClientDocument('http://127.0.0.1:9/cb'),
            client_id: 'https://elsewhere.example/c.json',
          }),
        );
        return;
      }
      res.writeHead(404).end();
    });
    const origin = `https://localhost:${server.port}`;
    const example = await startExample({ allowLoopback: true });
    try {
      const mismatch = `${origin}/mismatch.json`;
      const response = await fetch(authorizationUrl(example.issuer, mismatch));
      const html = await response.text();
      expect(response.status).toBe(400);
      expect(text(html, 'client-host')).toBe(`localhost:${server.port}`);
      expect(text(html, 'denial-reason')).toBe(
        `The application at localhost:${server.port} published a registration that this service cannot accept: it must have client_id equal to the URL, byte for byte.`,
      );
      expect(text(html, 'denial-ask')).toMatch(/^The problem is on the application's side: tell its developer/);
      // Development (the loopback exception): the operator's facts are on the page.
      expect(text(html, 'admit')).toBe(
        `the client's developer must set "client_id" to exactly ${JSON.stringify(mismatch)}`,
      );

      const missing = await fetch(authorizationUrl(example.issuer, `${origin}/missing.json`));
      const missingHtml = await missing.text();
      expect(text(missingHtml, 'denial-reason')).toBe(
        `This service could not read the application's registration from localhost:${server.port}: its server did not answer properly.`,
      );
      expect(missingHtml).toContain('rejected:status');

      // Not a CIMD refusal: the example's own error page, as before.
      const unknown = await fetch(authorizationUrl(example.issuer, 'no-such-client'));
      const unknownHtml = await unknown.text();
      expect(unknownHtml).toContain('Something went wrong');
      expect(unknownHtml).not.toContain('denial-reason');
    } finally {
      await example.close();
      await server.close();
    }
  });

  it('denialPage: false leaves every error to the deployment; showDetails: true shows the facts in production', async () => {
    const off = await startExample({ allow: ['https://allowed-app.com/c.json'], cimd: { denialPage: false } });
    const on = await startExample({
      allow: ['https://allowed-app.com/c.json'],
      cimd: { denialPage: { showDetails: true } },
    });
    try {
      const cid = 'https://tools.vendorapp.com/client.json';
      const offHtml = await (await fetch(authorizationUrl(off.issuer, cid))).text();
      expect(offHtml).toContain('Something went wrong');
      expect(offHtml).not.toContain('denial-reason');
      const onHtml = await (await fetch(authorizationUrl(on.issuer, cid))).text();
      expect(text(onHtml, 'admit')).toBe(`CIMD_ALLOW=https://allowed-app.com/c.json,${cid}`);
    } finally {
      await off.close();
      await on.close();
    }
  });

  it('escapes what the client id carries', () => {
    const error = new CimdError('rejected:policy', 'client_id is not on the allow list');
    const cid = 'https://x.example/<script>alert(1)</script>.json';
    const page = renderDenialPage(describeDenial(error, cid), { showDetails: true });
    expect(page.html).not.toContain('<script>');
    expect(page.html).toContain('&lt;script&gt;');
  });
});
