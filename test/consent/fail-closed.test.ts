/**
 * Consent fails closed (draft-ietf-oauth-client-id-metadata-document-03 §9.9, README "Consent"):
 * - what a user approved is kept with the provider's adapter, not in the evictable document cache: neither an
 *   eviction flood of the shared store nor a shared-store outage lets a changed client skip the consent page;
 * - a grant whose approval cannot be read (missing, or the adapter fails) means the user is asked again;
 * - whether a client is a CIMD client is decided from its id, so a `no-store` document keeps the new-client notice;
 * - registered (static/DCR) clients are left alone unless `consent.registeredClients` opts them in;
 * - the development exception is refused when the provider actually serving requests has a public issuer.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Keyv } from '@keyv/redis';
import { Provider } from 'oidc-provider';
import { CHANGED_CHECK, type CimdEvent, createCimd, LOOPBACK_CHECK } from 'oidc-provider-cimd';
import { createBoundedMemoryStore } from '../../packages/oidc-provider-cimd/src/cache/memory-store.js';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import {
  Browser,
  type DocumentHost,
  loopbackDocument,
  recordingAdapter,
  startConsentHarness,
  startDocumentHost,
  webDocument,
} from './support.js';

const WEB = 'https://app.example.org/cb';
const EVIL = 'https://evil.example.net/cb';
const LOOPBACK = 'http://127.0.0.1:47011/callback';

let host: DocumentHost;
beforeAll(async () => {
  host = await startDocumentHost();
});
afterAll(() => host.close());

/** A store the test can take down: every call then fails, as Redis does while it is unreachable. */
function failingStore() {
  const map = new Map<string, unknown>();
  let down = false;
  const guard = <T>(fn: () => T): T => {
    if (down) throw new Error('store down');
    return fn();
  };
  const store = {
    get: (key: string) => guard(() => map.get(key)),
    set: (key: string, value: unknown) => guard(() => map.set(key, value) && true),
    delete: (key: string) => guard(() => map.delete(key)),
    clear: () => guard(() => map.clear()),
    has: (key: string) => guard(() => map.has(key)),
  };
  return { store, setDown: (value: boolean) => (down = value) };
}

describe('a changed client is always asked again', () => {
  it('after ~10,300 entries pushed the shared store past its bound (eviction flood)', async () => {
    const store = createBoundedMemoryStore();
    const shared = new Keyv({ store });
    const op = await startConsentHarness({ cimd: { cache: shared } });
    try {
      const cid = host.publish('/flood.json', webDocument([WEB]));
      const browser = new Browser();
      expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
      let mark = op.prompts.length;
      expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
      expect(op.consentsSince(mark)).toHaveLength(0);

      // What unauthenticated traffic can do to the shared store: 10,300 strangers' entries.
      for (let i = 0; i < 10_300; i++) await shared.set(`cimd:doc:flood-${i}`, { v: 1, filler: i });

      host.publish('/flood.json', webDocument([WEB, EVIL]));
      await op.cimd.refresh(cid);
      const none = await op.authorize(browser, cid, WEB, { prompt: 'none' });
      expect(none?.searchParams.get('error')).toBe('consent_required');
      mark = op.prompts.length;
      expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
      const [prompt] = op.consentsSince(mark);
      expect(prompt?.reasons).toContain(CHANGED_CHECK);
      expect(prompt?.details.clientChanges).toEqual([{ field: 'redirect_uris', added: [EVIL], removed: [] }]);
      expect(prompt?.view?.changes).toEqual([{ field: 'redirect_uris', added: [EVIL], removed: [] }]);
    } finally {
      await op.close();
    }
  }, 60_000);

  it('after the shared store was emptied', async () => {
    const shared = new Keyv();
    const op = await startConsentHarness({ cimd: { cache: shared } });
    try {
      const cid = host.publish('/cleared.json', webDocument([WEB]));
      const browser = new Browser();
      await op.authorize(browser, cid, WEB);
      await shared.clear();
      host.publish('/cleared.json', webDocument([WEB, EVIL]));
      await op.cimd.refresh(cid);
      const mark = op.prompts.length;
      await op.authorize(browser, cid, WEB);
      expect(op.consentsSince(mark)[0]?.reasons).toContain(CHANGED_CHECK);
    } finally {
      await op.close();
    }
  });

  it('while the shared store is down', async () => {
    const { store, setDown } = failingStore();
    const op = await startConsentHarness({ cimd: { cache: new Keyv({ store }), sharedCacheTimeoutMs: 50 } });
    try {
      const cid = host.publish('/outage.json', webDocument([WEB]));
      const browser = new Browser();
      await op.authorize(browser, cid, WEB);
      setDown(true);
      host.publish('/outage.json', webDocument([WEB, EVIL]));
      await op.cimd.refresh(cid).catch(() => {});
      const none = await op.authorize(browser, cid, WEB, { prompt: 'none' });
      expect(none?.searchParams.get('error')).toBe('consent_required');
      const mark = op.prompts.length;
      expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
      const [prompt] = op.consentsSince(mark);
      expect(prompt?.reasons).toContain(CHANGED_CHECK);
      expect(prompt?.details.clientChanges).toEqual([{ field: 'redirect_uris', added: [EVIL], removed: [] }]);
    } finally {
      setDown(false);
      await op.close();
    }
  });
});

describe('approvals live with the adapter, and a grant without a readable approval is asked again', () => {
  it('stores the approval as the CimdConsent model of the provider adapter, keyed by the grant', async () => {
    const { adapter, models } = recordingAdapter();
    const op = await startConsentHarness({ config: { adapter } });
    try {
      const cid = host.publish('/adapter.json', webDocument([WEB]));
      await op.authorize(new Browser(), cid, WEB);
      const grants = [...(models.get('Grant')?.keys() ?? [])];
      const approvals = models.get('CimdConsent');
      expect(grants).toHaveLength(1);
      expect([...(approvals?.keys() ?? [])]).toEqual(grants);
      expect(approvals?.get(grants[0]!)).toMatchObject({ v: 1, accountId: 'alice', clientId: cid });
    } finally {
      await op.close();
    }
  });

  it.each([
    ['fails', 'failConsent'],
    ['has lost it', 'dropConsent'],
  ] as const)('asks again when the adapter %s', async (_label, flag) => {
    const { adapter, state } = recordingAdapter();
    const op = await startConsentHarness({ config: { adapter } });
    try {
      const cid = host.publish(`/lost-${flag}.json`, webDocument([WEB]));
      const browser = new Browser();
      await op.authorize(browser, cid, WEB);
      let mark = op.prompts.length;
      await op.authorize(browser, cid, WEB);
      expect(op.consentsSince(mark)).toHaveLength(0);

      state[flag] = true;
      const none = await op.authorize(browser, cid, WEB, { prompt: 'none' });
      expect(none?.searchParams.get('error')).toBe('consent_required');
      mark = op.prompts.length;
      expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
      const [prompt] = op.consentsSince(mark);
      expect(prompt?.reasons).toContain(CHANGED_CHECK);
      expect(prompt?.details.approval).toBe(flag === 'failConsent' ? 'unavailable' : 'missing');
      // The page says why it asks again.
      expect(prompt?.view?.warnings.find((w) => w.id === 'approval_unknown')?.text).toMatch(/could not confirm/);
      expect(prompt?.view?.changed).toBe(false);

      // Once the adapter answers again, the fresh approval counts.
      state[flag] = false;
      mark = op.prompts.length;
      await op.authorize(browser, cid, WEB);
      expect(op.consentsSince(mark)).toHaveLength(0);
    } finally {
      await op.close();
    }
  });

  it('consent.adapter names another store for the approvals', async () => {
    const provider = recordingAdapter();
    const own = recordingAdapter();
    const op = await startConsentHarness({
      cimd: { consent: { adapter: own.adapter } },
      config: { adapter: provider.adapter },
    });
    try {
      const cid = host.publish('/own-store.json', webDocument([WEB]));
      await op.authorize(new Browser(), cid, WEB);
      expect(own.state.consentWrites).toBe(1);
      expect(provider.models.get('CimdConsent')?.size ?? 0).toBe(0);
    } finally {
      await op.close();
    }
  });
});

describe('a CIMD client is recognised from its id', () => {
  it('a no-store document still gets the new-client notice and isMetadataDocumentClient', async () => {
    const op = await startConsentHarness();
    try {
      const cid = `${host.origin}/no-store.json`;
      host.route('/no-store.json', {
        body: JSON.stringify({ ...webDocument([WEB]), client_id: cid }),
        headers: { 'cache-control': 'no-store' },
      });
      const mark = op.prompts.length;
      expect((await op.authorize(new Browser(), cid, WEB))?.searchParams.get('code')).toBeTruthy();
      const view = op.consentsSince(mark)[0]?.view;
      expect(view?.isMetadataDocumentClient).toBe(true);
      expect(view?.clientHost).toBe(new URL(cid).host);
      expect(view?.isNew).toBe(true);
      expect(view?.newClient?.known).toBe(true);
      expect(view?.warnings.map((w) => w.id)).toContain('new_client');
      expect(await op.cimd.inspect(cid)).toBeUndefined();
    } finally {
      await op.close();
    }
  });
});

describe('registered clients', () => {
  const staticClient = {
    client_id: 'static-loopback',
    token_endpoint_auth_method: 'none' as const,
    application_type: 'web' as const,
    // A web client (oidc-provider's own native_client_prompt stays out of it) whose only redirect is loopback.
    redirect_uris: [LOOPBACK],
  };

  it('are left to oidc-provider by default (documented opt-in)', async () => {
    const op = await startConsentHarness({ config: { clients: [staticClient] } });
    try {
      const browser = new Browser();
      await op.authorize(browser, 'static-loopback', LOOPBACK);
      const mark = op.prompts.length;
      expect((await op.authorize(browser, 'static-loopback', LOOPBACK))?.searchParams.get('code')).toBeTruthy();
      expect(op.consentsSince(mark)).toHaveLength(0);
    } finally {
      await op.close();
    }
  });

  it('get the loopback check with consent.registeredClients', async () => {
    const op = await startConsentHarness({
      cimd: { consent: { registeredClients: true } },
      config: { clients: [staticClient] },
    });
    try {
      const browser = new Browser();
      await op.authorize(browser, 'static-loopback', LOOPBACK);
      const mark = op.prompts.length;
      expect((await op.authorize(browser, 'static-loopback', LOOPBACK))?.searchParams.get('code')).toBeTruthy();
      expect(op.consentsSince(mark)[0]?.reasons).toContain(LOOPBACK_CHECK);
      const none = await op.authorize(browser, 'static-loopback', LOOPBACK, { prompt: 'none' });
      expect(none?.searchParams.get('error')).toBe('consent_required');
    } finally {
      await op.close();
    }
  });
});

describe('the development exception follows the provider that serves the request', () => {
  it('is refused, with an event, when only the issuer option is loopback', async () => {
    const { cert } = await getTestCertificate();
    const events: CimdEvent[] = [];
    const server = http.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const local = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The option says loopback (so startup accepts allowLoopback); the provider's real issuer is public.
    const cimd = createCimd({
      issuer: 'http://localhost:4000',
      allowLoopback: true,
      ca: cert,
      failureBackoffMs: 0,
      onEvent: (event) => events.push(event),
    });
    const provider = new Provider('https://op.example.com', cimd.configure({}));
    server.on('request', provider.callback());
    try {
      const cid = host.publish('/dev-exception.json', loopbackDocument([LOOPBACK]));
      const response = await startAuthorization(local, cid, LOOPBACK);
      expect(response.status).toBe(400);
      expect(response.location).toBeNull();
      expect(host.hits('/dev-exception.json')).toBe(0);
      expect(events.some((event) => event.reason === 'rejected:url' && event.rule === 'development_exception')).toBe(
        true,
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cimd.close();
    }
  });

  it('is honoured when the serving provider is loopback', async () => {
    const op = await startConsentHarness();
    try {
      const cid = host.publish('/dev-ok.json', loopbackDocument([LOOPBACK]));
      expect((await op.authorize(new Browser(), cid, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
    } finally {
      await op.close();
    }
  });
});
