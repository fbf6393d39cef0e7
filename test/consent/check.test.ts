/**
 * The consent checks the plugin adds to the deployment's interaction policy (draft-ietf-oauth-client-id-metadata-document-03 §9.9, README "Consent"): loopback-only clients
 * are asked on every authorization (or once, by option), prompt=none gets consent_required, other clients keep
 * oidc-provider's behaviour, a changed document makes the user consent again, and the policy is composed with
 * the deployment's own, never replaced.
 */
import { Keyv } from '@keyv/redis';
import { interactionPolicy } from 'oidc-provider';
import { CHANGED_CHECK, CHANGED_DURING_CONSENT_CHECK, createCimd, LOOPBACK_CHECK } from 'oidc-provider-cimd';
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

describe('consent check for loopback-only clients (default: always)', () => {
  let host: DocumentHost;
  let op: ConsentHarness;
  let cli: string;
  let web: string;
  beforeAll(async () => {
    host = await startDocumentHost();
    op = await startConsentHarness();
    cli = host.publish('/cli.json', loopbackDocument([LOOPBACK]));
    web = host.publish('/web.json', webDocument([WEB]));
  });
  afterAll(async () => {
    await op.close();
    await host.close();
  });

  it('asks on every authorization, even with an existing grant, and does not loop after approval', async () => {
    const browser = new Browser();
    let mark = op.prompts.length;
    const first = await op.authorize(browser, cli, LOOPBACK);
    expect(first?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(1);
    expect(op.consentsSince(mark)[0]!.reasons).toContain(LOOPBACK_CHECK);

    for (let i = 0; i < 2; i++) {
      mark = op.prompts.length;
      const again = await op.authorize(browser, cli, LOOPBACK);
      expect(again?.searchParams.get('code')).toBeTruthy();
      // Exactly one consent prompt (no login: the session is there), then the code: no loop.
      expect(op.prompts.slice(mark).map((p) => p.name)).toEqual(['consent']);
      expect(op.prompts[mark]!.reasons).toContain(LOOPBACK_CHECK);
      expect(op.prompts[mark]!.details).toMatchObject({ loopbackOnly: true });
    }
  });

  it('answers prompt=none with consent_required, even with an existing grant', async () => {
    const browser = new Browser();
    await op.authorize(browser, cli, LOOPBACK);
    const none = await op.authorize(browser, cli, LOOPBACK, { prompt: 'none' });
    expect(none?.origin).toBe('http://127.0.0.1:47001');
    expect(none?.searchParams.get('error')).toBe('consent_required');
    expect(none?.searchParams.get('code')).toBeNull();
  });

  it('leaves clients with a non-loopback redirect URI to the default behaviour', async () => {
    const browser = new Browser();
    let mark = op.prompts.length;
    expect((await op.authorize(browser, web, WEB))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(1);
    expect(op.consentsSince(mark)[0]!.reasons).not.toContain(LOOPBACK_CHECK);

    mark = op.prompts.length;
    expect((await op.authorize(browser, web, WEB))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(0);
    const none = await op.authorize(browser, web, WEB, { prompt: 'none' });
    expect(none?.searchParams.get('code')).toBeTruthy();
  });

  it('asks whenever the requested redirect URI is loopback, also for a client with https redirect URIs', async () => {
    // The shape of the red-team finding: a web client (no application_type) with an https and a loopback
    // redirect URI, approved once through the https one. A local program then presents its id with the
    // loopback redirect URI and prompt=none.
    const mixed = host.publish('/mixed.json', webDocument([WEB, 'http://127.0.0.1:6274/cb']));
    const browser = new Browser();
    expect((await op.authorize(browser, mixed, WEB))?.searchParams.get('code')).toBeTruthy();
    let mark = op.prompts.length;
    expect((await op.authorize(browser, mixed, WEB))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(0);

    const none = await op.authorize(browser, mixed, 'http://127.0.0.1:6274/cb', { prompt: 'none' });
    expect(none?.origin).toBe('http://127.0.0.1:6274');
    expect(none?.searchParams.get('error')).toBe('consent_required');
    expect(none?.searchParams.get('code')).toBeNull();

    for (let i = 0; i < 2; i++) {
      mark = op.prompts.length;
      expect((await op.authorize(browser, mixed, 'http://127.0.0.1:6274/cb'))?.searchParams.get('code')).toBeTruthy();
      const [prompt] = op.consentsSince(mark);
      expect(prompt?.reasons).toContain(LOOPBACK_CHECK);
      expect(prompt?.details).toMatchObject({ loopbackOnly: false, loopbackRedirect: true });
      expect(prompt?.view?.loopbackOnly).toBe(false);
      expect(prompt?.view?.loopbackRedirect).toBe(true);
      expect(prompt?.view?.warnings.find((w) => w.id === 'loopback')?.title).toMatch(/program on this computer/);
    }
    // The https redirect still follows the grant.
    mark = op.prompts.length;
    expect((await op.authorize(browser, mixed, WEB, { prompt: 'none' }))?.searchParams.get('code')).toBeTruthy();
  });

  it('sends access_denied when the user denies, and asks again next time', async () => {
    const browser = new Browser();
    op.approve = false;
    try {
      const denied = await op.authorize(browser, cli, LOOPBACK);
      expect(denied?.searchParams.get('error')).toBe('access_denied');
    } finally {
      op.approve = true;
    }
    const mark = op.prompts.length;
    expect((await op.authorize(browser, cli, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(1);
  });
});

describe("consent check, loopback: 'once'", () => {
  let host: DocumentHost;
  let op: ConsentHarness;
  let cli: string;
  beforeAll(async () => {
    host = await startDocumentHost();
    // oidc-provider's own native_client_prompt would ask every native client every time anyway; a deployment
    // that wants 'once' removes it from its policy. The plugin's checks are added to that very policy.
    const policy = interactionPolicy.base();
    policy.get('consent')!.checks.remove('native_client_prompt');
    op = await startConsentHarness({
      cimd: { consent: { loopback: 'once' } },
      config: { interactions: { policy } },
    });
    cli = host.publish('/cli.json', loopbackDocument([LOOPBACK]));
  });
  afterAll(async () => {
    await op.close();
    await host.close();
  });

  it('asks the first time only, then follows the grant', async () => {
    const browser = new Browser();
    let mark = op.prompts.length;
    expect((await op.authorize(browser, cli, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(1);

    mark = op.prompts.length;
    expect((await op.authorize(browser, cli, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(0);
    expect((await op.authorize(browser, cli, LOOPBACK, { prompt: 'none' }))?.searchParams.get('code')).toBeTruthy();
  });

  it('asks another user of the same browser profile the first time too', async () => {
    const browser = new Browser();
    await op.authorize(browser, cli, LOOPBACK, { account: 'carol' });
    // A fresh browser (new session), a new account: its first authorization asks.
    const other = new Browser();
    const mark = op.prompts.length;
    await op.authorize(other, cli, LOOPBACK, { account: 'dave' });
    expect(op.consentsSince(mark)).toHaveLength(1);
  });
});

describe('changed-client signal', () => {
  let host: DocumentHost;
  let op: ConsentHarness;
  beforeAll(async () => {
    host = await startDocumentHost();
    op = await startConsentHarness();
  });
  afterAll(async () => {
    await op.close();
    await host.close();
  });

  it('asks again, saying what changed, when the redirect URIs change; then not again', async () => {
    const cid = host.publish('/changing.json', webDocument([WEB]));
    const browser = new Browser();
    await op.authorize(browser, cid, WEB);
    let mark = op.prompts.length;
    await op.authorize(browser, cid, WEB);
    expect(op.consentsSince(mark)).toHaveLength(0);

    host.publish('/changing.json', webDocument([WEB, 'https://evil.example.net/cb']));
    await op.cimd.refresh(cid);

    const none = await op.authorize(browser, cid, WEB, { prompt: 'none' });
    expect(none?.searchParams.get('error')).toBe('consent_required');

    mark = op.prompts.length;
    expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
    const [prompt] = op.consentsSince(mark);
    expect(prompt?.reasons).toContain(CHANGED_CHECK);
    expect(prompt?.details.clientChanges).toEqual([
      { field: 'redirect_uris', added: ['https://evil.example.net/cb'], removed: [] },
    ]);
    expect(prompt?.view?.changed).toBe(true);
    const warning = prompt?.view?.warnings.find((w) => w.id === 'changed_client');
    expect(warning?.details).toEqual(['It can now send you back to: https://evil.example.net/cb']);

    // The new document is what the user approved now.
    mark = op.prompts.length;
    expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(0);
  });

  it('notices a changed auth method and changed keys', async () => {
    const jwk = (x: string) => ({ kty: 'EC', crv: 'P-256', x, y: 'AAAA', kid: 'k1' });
    const cid = host.publish(
      '/keys.json',
      webDocument([WEB], { jwks: { keys: [jwk('BBBB')] }, token_endpoint_auth_method: 'none' }),
    );
    const browser = new Browser();
    await op.authorize(browser, cid, WEB);
    host.publish(
      '/keys.json',
      webDocument([WEB], { jwks: { keys: [jwk('CCCC')] }, token_endpoint_auth_method: 'private_key_jwt' }),
    );
    await op.cimd.refresh(cid);
    const mark = op.prompts.length;
    await op.authorize(browser, cid, WEB);
    const changes = op.consentsSince(mark)[0]?.details.clientChanges as { field: string }[] | undefined;
    expect(changes?.map((c) => c.field)).toEqual(['token_endpoint_auth_method', 'keys']);
  });

  it('does not ask again for a change that is not security-relevant', async () => {
    const cid = host.publish('/renamed.json', webDocument([WEB]));
    const browser = new Browser();
    await op.authorize(browser, cid, WEB);
    host.publish(
      '/renamed.json',
      webDocument([WEB], { client_name: 'A new name', logo_uri: 'https://x.example/l.png' }),
    );
    await op.cimd.refresh(cid);
    const mark = op.prompts.length;
    await op.authorize(browser, cid, WEB);
    expect(op.consentsSince(mark)).toHaveLength(0);
  });

  it('is per user: another user with no earlier grant is not told about changes', async () => {
    const cid = host.publish('/per-user.json', webDocument([WEB]));
    await op.authorize(new Browser(), cid, WEB, { account: 'erin' });
    host.publish('/per-user.json', webDocument([WEB, 'https://other.example.org/cb']));
    await op.cimd.refresh(cid);
    const mark = op.prompts.length;
    await op.authorize(new Browser(), cid, WEB, { account: 'frank' });
    const [prompt] = op.consentsSince(mark);
    expect(prompt?.reasons).not.toContain(CHANGED_CHECK);
    expect(prompt?.view?.changed).toBe(false);
  });

  it('can be turned off', async () => {
    const off = await startConsentHarness({ cimd: { consent: { changedClient: false } } });
    try {
      const cid = host.publish('/off.json', webDocument([WEB]));
      const browser = new Browser();
      await off.authorize(browser, cid, WEB);
      host.publish('/off.json', webDocument([WEB, 'https://evil.example.net/cb']));
      await off.cimd.refresh(cid);
      const mark = off.prompts.length;
      expect((await off.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
      expect(off.consentsSince(mark)).toHaveLength(0);
    } finally {
      await off.close();
    }
  });
});

describe('composition with the deployment interaction policy', () => {
  const options = { issuer: 'http://localhost:4000' };

  it('adds its checks first in the consent prompt of the given policy, keeping everything else', () => {
    const cimd = createCimd(options);
    const policy = interactionPolicy.base();
    const custom = new interactionPolicy.Prompt(
      { name: 'custom', requestable: false },
      new interactionPolicy.Check('mine', 'mine', () => false),
    );
    policy.add(custom, 0);
    const before = policy.get('consent')!.checks.map((c) => c.reason);
    const result = cimd.interactionPolicy(policy);
    expect(result).toBe(policy);
    expect(result.map((p) => p.name)).toEqual(['custom', 'login', 'consent']);
    expect(result.get('consent')!.checks.map((c) => c.reason)).toEqual([
      CHANGED_DURING_CONSENT_CHECK,
      LOOPBACK_CHECK,
      CHANGED_CHECK,
      ...before,
    ]);
    // Idempotent.
    cimd.interactionPolicy(policy);
    expect(result.get('consent')!.checks.filter((c) => c.reason === LOOPBACK_CHECK)).toHaveLength(1);
  });

  it('defaults to oidc-provider base policy', () => {
    const policy = createCimd(options).interactionPolicy();
    expect(policy.map((p) => p.name)).toEqual(['login', 'consent']);
    expect(policy.get('consent')!.checks.get(LOOPBACK_CHECK)).toBeDefined();
  });

  it('configure() composes automatically; consent.policy manual leaves the policy alone', () => {
    const policy = interactionPolicy.base();
    const auto = createCimd(options).configure({ interactions: { policy } });
    expect(auto.interactions?.policy).toBe(policy);
    expect(policy.get('consent')!.checks.get(LOOPBACK_CHECK)).toBeDefined();

    const untouched = interactionPolicy.base();
    const manual = createCimd({ ...options, consent: { policy: 'manual' } }).configure({
      interactions: { policy: untouched },
    });
    expect(manual.interactions?.policy).toBe(untouched);
    expect(untouched.get('consent')!.checks.get(LOOPBACK_CHECK)).toBeUndefined();

    const configured = createCimd(options).configure({});
    const defaults = configured.interactions?.policy as interactionPolicy.DefaultPolicy;
    expect(defaults.get('consent')!.checks.get(LOOPBACK_CHECK)).toBeDefined();
  });

  it('refuses a policy without a consent prompt', () => {
    const policy = interactionPolicy.base();
    policy.remove('consent');
    expect(() => createCimd(options).interactionPolicy(policy)).toThrow(/no 'consent' prompt/);
  });

  it('rejects an unknown loopback mode', () => {
    expect(() => createCimd({ ...options, consent: { loopback: 'never' as 'once' } })).toThrow(/consent.loopback/);
  });
});

describe('a dead shared store never hangs consent', () => {
  let host: DocumentHost;
  beforeAll(async () => {
    host = await startDocumentHost();
  });
  afterAll(() => host.close());

  /** A Keyv whose store accepts every call and never answers. */
  function stalledKeyv(): Keyv {
    const never = () => new Promise<never>(() => {});
    const store = new Map();
    Object.assign(store, { get: never, set: never, delete: never, clear: never, has: never });
    return new Keyv({ store });
  }

  it.each(['always', 'once'] as const)('loopback %s: still asks, and completes within the deadlines', async (mode) => {
    const op = await startConsentHarness({
      cimd: { cache: stalledKeyv(), sharedCacheTimeoutMs: 50, consent: { loopback: mode } },
    });
    try {
      const cid = host.publish(`/dead-${mode}.json`, loopbackDocument([LOOPBACK]));
      const browser = new Browser();
      const started = performance.now();
      expect((await op.authorize(browser, cid, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
      const mark = op.prompts.length;
      expect((await op.authorize(browser, cid, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
      expect(op.consentsSince(mark)).toHaveLength(1);
      const view = op.consentsSince(mark)[0]!.view!;
      expect(view.isNew).toBe(true);
      expect(view.newClient?.known).toBe(false);
      expect(view.warnings.find((w) => w.id === 'new_client')?.text).toMatch(/could not check/);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await op.close();
    }
  });
});
