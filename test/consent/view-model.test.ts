/**
 * The consent view model: hostnames, redirect target, client-supplied strings marked as such, scopes, the
 * logo on the server's own origin, and every signal (loopback-only, new client, trusted, changed) on and off.
 */
import type { ConsentInteraction, ConsentViewModel } from 'oidc-provider-cimd';
import { fingerprint, securityParts } from '../../packages/oidc-provider-cimd/src/consent/fingerprint.js';
import { circlePng } from './images.js';
import {
  Browser,
  type ConsentHarness,
  type DocumentHost,
  loopbackDocument,
  startConsentHarness,
  startDocumentHost,
  webDocument,
} from './support.js';

const LOOPBACK = 'http://127.0.0.1:47001/callback';
const WEB = 'https://app.example.org/cb';

function interaction(
  clientId: string,
  redirectUri: string,
  extra: Partial<ConsentInteraction> = {},
): ConsentInteraction {
  return {
    uid: 'uid-1',
    params: { client_id: clientId, redirect_uri: redirectUri, scope: 'openid profile' },
    prompt: { name: 'consent', reasons: ['op_scopes_missing'], details: { missingOIDCScope: ['openid', 'profile'] } },
    session: { accountId: 'alice' },
    ...extra,
  };
}

describe('consent view model', () => {
  let host: DocumentHost;
  let op: ConsentHarness;

  const view = async (cid: string, redirectUri: string, harness = op, extra: Partial<ConsentInteraction> = {}) => {
    const entry = await harness.cimd.resolve(cid);
    return harness.cimd.consentViewModel({
      interaction: interaction(cid, redirectUri, extra),
      client: entry!.metadata as unknown as Record<string, unknown>,
    });
  };

  beforeAll(async () => {
    host = await startDocumentHost();
    host.route('/logo.png', { type: 'image/png', body: circlePng() });
    op = await startConsentHarness();
  });
  afterAll(async () => {
    await op.close();
    await host.close();
  });

  it('describes a loopback-only CIMD client', async () => {
    const cid = host.publish(
      '/cli.json',
      loopbackDocument([LOOPBACK], { client_uri: 'https://cli.example.com/', logo_uri: `${host.origin}/logo.png` }),
    );
    const model: ConsentViewModel = await view(cid, 'http://127.0.0.1:51234/callback');
    expect(model).toMatchObject({
      interactionUid: 'uid-1',
      accountId: 'alice',
      clientId: cid,
      clientHost: `127.0.0.1:${host.server.port}`,
      isMetadataDocumentClient: true,
      redirectUri: 'http://127.0.0.1:51234/callback',
      redirectHost: '127.0.0.1:51234',
      clientName: { value: 'Example CLI', display: 'Example CLI', suppliedByClient: true },
      clientUri: { value: 'https://cli.example.com/', suppliedByClient: true },
      scopes: ['openid', 'profile'],
      newScopes: ['openid', 'profile'],
      resources: [],
      loopbackOnly: true,
      trusted: false,
      changed: false,
      changes: [],
    });
    // The logo is a path on the server's own origin, never the client's URL.
    expect(model.logoUrl).toMatch(/^\/cimd\/logo\/[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(model)).not.toContain('/logo.png');
    const served = await op.cimd.logoResponse('GET', model.logoUrl!);
    expect(served?.headers['content-type']).toBe('image/png');

    expect(model.warnings.map((w) => w.id)).toEqual(['loopback', 'new_client']);
    const loopback = model.warnings[0]!;
    expect(loopback.severity).toBe('danger');
    expect(loopback.title).toContain('127.0.0.1:51234');
    expect(loopback.text).toContain(
      `Any program running on your computer can present itself as 127.0.0.1:${host.server.port}`,
    );
    // Plain JSON: a deployment may hand it to any template engine.
    expect(JSON.parse(JSON.stringify(model))).toEqual(model);
  });

  it('describes a web client: no loopback warning', async () => {
    const cid = host.publish('/web.json', webDocument([WEB]));
    const model = await view(cid, WEB);
    expect(model.loopbackOnly).toBe(false);
    expect(model.redirectHost).toBe('app.example.org');
    expect(model.warnings.map((w) => w.id)).toEqual(['new_client']);
    expect(model.logoUrl).toBeUndefined();
    expect(model.clientUri).toBeUndefined();
  });

  it('names resources and private-use schemes, and describes registered clients without the CIMD signals', async () => {
    const model = await op.cimd.consentViewModel({
      interaction: interaction('registered-app', 'com.example.app:/callback', {
        prompt: {
          name: 'consent',
          details: {
            missingOIDCScope: ['openid'],
            missingResourceScopes: { 'https://api.example.com/mcp': ['mcp:tools'] },
          },
        },
        session: undefined,
      }),
      client: { client_id: 'registered-app', redirect_uris: ['com.example.app:/callback'], client_name: 'App' },
    });
    expect(model).toMatchObject({
      clientHost: undefined,
      isMetadataDocumentClient: false,
      redirectHost: 'com.example.app:',
      accountId: undefined,
      resources: [{ resource: 'https://api.example.com/mcp', host: 'api.example.com', scopes: ['mcp:tools'] }],
      isNew: false,
      newClient: undefined,
      loopbackOnly: false,
      warnings: [],
    });
  });

  it('warns about a private-use scheme redirect of a CIMD client, and carries the fingerprint shown', async () => {
    const app = 'com.example.app:/callback';
    const cid = host.publish('/mobile.json', {
      client_name: 'Mobile',
      redirect_uris: [app],
      token_endpoint_auth_method: 'none',
    });
    const model = await view(cid, app);
    expect(model).toMatchObject({
      privateUseRedirect: true,
      loopbackRedirect: false,
      redirectHost: 'com.example.app:',
    });
    expect(model.warnings.map((w) => w.id)).toEqual(['loopback', 'new_client']);
    expect(model.warnings[0]!.title).toBe(
      'Warning: this sign-in returns to an app on this device (com.example.app:), not to a website.',
    );
    const metadata = (await op.cimd.resolve(cid))!.metadata as unknown as Record<string, unknown>;
    expect(model.documentFingerprint).toBe(fingerprint(securityParts(metadata)));
    // A plain interaction object cannot be saved: nothing is written into it.
    const plain = interaction(cid, app);
    await op.cimd.consentViewModel({ interaction: plain, client: metadata });
    expect(plain.prompt.details).toEqual({ missingOIDCScope: ['openid', 'profile'] });
  });

  it('says what changed while the page was open, on the page that asks again', async () => {
    const cid = host.publish('/asked-again.json', webDocument([WEB, 'https://evil.example.net/cb']));
    const model = await view(cid, WEB, op, {
      prompt: {
        name: 'consent',
        reasons: ['cimd_client_changed_during_consent'],
        details: {
          changedWhileShown: [{ field: 'redirect_uris', added: ['https://evil.example.net/cb'], removed: [] }],
        },
      },
    });
    expect(model.changedWhileShown).toHaveLength(1);
    expect(model.warnings[0]).toMatchObject({
      id: 'changed_while_shown',
      severity: 'danger',
      details: ['It can now send you back to: https://evil.example.net/cb'],
    });
    // Not a change since an earlier grant: that warning stays off.
    expect(model.changed).toBe(false);
  });

  it('uses the only registered redirect URI when the request names none', async () => {
    const cid = host.publish('/only.json', webDocument([WEB]));
    await op.cimd.resolve(cid);
    const model = await op.cimd.consentViewModel({
      interaction: { ...interaction(cid, WEB), params: { client_id: cid } },
      client: (await op.cimd.resolve(cid))!.metadata as unknown as Record<string, unknown>,
    });
    expect(model.redirectUri).toBe(WEB);
  });

  it('refuses a client that is not the one of the interaction', async () => {
    const cid = host.publish('/a.json', webDocument([WEB]));
    await expect(
      op.cimd.consentViewModel({
        interaction: interaction(cid, WEB),
        client: { client_id: 'other', redirect_uris: [WEB] },
      }),
    ).rejects.toThrow(/not the one of this interaction/);
  });

  it('marks control and bidi-override characters in client-supplied text, keeping the raw value', async () => {
    const name = 'Good\u202Eevil\u0007 App';
    const cid = host.publish('/bidi.json', webDocument([WEB], { client_name: name }));
    const model = await view(cid, WEB);
    expect(model.clientName).toEqual({ value: name, display: 'Good\ufffdevil\ufffd App', suppliedByClient: true });
    const long = host.publish('/long.json', webDocument([WEB], { client_name: 'x'.repeat(500) }));
    expect([...(await view(long, WEB)).clientName!.display]).toHaveLength(120);
  });

  it('shows no logo when the logo breaks a rule, or when logos are off', async () => {
    host.route('/logo.svg', { type: 'image/svg+xml', body: '<svg xmlns="http://www.w3.org/2000/svg"/>' });
    const cid = host.publish('/svg.json', webDocument([WEB], { logo_uri: `${host.origin}/logo.svg` }));
    expect((await view(cid, WEB)).logoUrl).toBeUndefined();

    const off = await startConsentHarness({ cimd: { consent: { logo: false } } });
    try {
      const good = host.publish('/good-logo.json', webDocument([WEB], { logo_uri: `${host.origin}/logo.png` }));
      expect((await view(good, WEB, off)).logoUrl).toBeUndefined();
      expect(await off.cimd.logoResponse('GET', '/cimd/logo/x')).toBeUndefined();
    } finally {
      await off.close();
    }
  });
});

describe('new-client signal', () => {
  let host: DocumentHost;
  beforeAll(async () => {
    host = await startDocumentHost();
  });
  afterAll(() => host.close());

  it('is new until first seen long enough ago AND granted by enough users', async () => {
    let clock = Date.now();
    const op = await startConsentHarness({
      cimd: { now: () => clock, consent: { newClient: { minUsers: 2, minAgeMs: 7 * 24 * 3600_000 } } },
    });
    try {
      const cid = host.publish('/new.json', webDocument([WEB]));
      const views = () => op.prompts.filter((p) => p.view).map((p) => p.view!);

      await op.authorize(new Browser(), cid, WEB, { account: 'alice' });
      expect(views().at(-1)).toMatchObject({ isNew: true, newClient: { known: true, users: 0 } });
      expect(
        views()
          .at(-1)!
          .warnings.find((w) => w.id === 'new_client')?.text,
      ).toMatch(/first saw .* less than an hour ago, and nobody has allowed it yet/);

      await op.authorize(new Browser(), cid, WEB, { account: 'bob' });
      expect(views().at(-1)).toMatchObject({ isNew: true, newClient: { users: 1 } });
      // Old enough now, but only two users have granted it once bob's grant counts.
      clock += 8 * 24 * 3600_000;
      await op.authorize(new Browser(), cid, WEB, { account: 'carol' });
      expect(views().at(-1)).toMatchObject({ isNew: false, newClient: { known: true, users: 2 } });
      expect(
        views()
          .at(-1)!
          .warnings.map((w) => w.id),
      ).toEqual([]);

      // The same user granting again does not count twice.
      const again = host.publish('/again.json', webDocument([WEB]));
      await op.authorize(new Browser(), again, WEB, { account: 'dave' });
      await op.authorize(new Browser(), again, WEB, { account: 'dave' });
      clock += 8 * 24 * 3600_000;
      await op.authorize(new Browser(), again, WEB, { account: 'erin' });
      expect(views().at(-1)).toMatchObject({ isNew: true, newClient: { users: 1 } });
    } finally {
      await op.close();
    }
  });

  it('is never shown for trusted patterns, which keep the loopback warning', async () => {
    const op = await startConsentHarness({ cimd: { consent: { trusted: ['127.0.0.1'] } } });
    try {
      const cid = host.publish('/trusted.json', loopbackDocument([LOOPBACK]));
      await op.authorize(new Browser(), cid, LOOPBACK);
      const model = op.prompts.find((p) => p.view)!.view!;
      expect(model).toMatchObject({ trusted: true, isNew: false, newClient: undefined, loopbackOnly: true });
      expect(model.warnings.map((w) => w.id)).toEqual(['loopback']);
    } finally {
      await op.close();
    }
  });

  it('can be turned off', async () => {
    const op = await startConsentHarness({ cimd: { consent: { newClient: false } } });
    try {
      const cid = host.publish('/off.json', webDocument([WEB]));
      await op.authorize(new Browser(), cid, WEB);
      const model = op.prompts.find((p) => p.view)!.view!;
      expect(model).toMatchObject({ isNew: false, newClient: undefined, warnings: [] });
    } finally {
      await op.close();
    }
  });
});
