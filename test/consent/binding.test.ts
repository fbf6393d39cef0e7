/**
 * Consent is bound to what the user saw (draft-ietf-oauth-client-id-metadata-document-03 §9.9, docs/consent.md):
 * - the approval recorded at resume is that of the document the consent page showed; when the document changed
 *   in between (a refetch, a refresh on another instance), the user is asked again, told what changed, and
 *   nothing is recorded (no approval, so the changed-client check still fires for them);
 * - a fingerprint the page passes back (`consent.cimdFingerprint`) wins over the one the plugin kept;
 * - `consent.loopback: 'once'` is satisfied only by an approval given for that kind of local redirect, never by
 *   one given through the client's https redirect;
 * - private-use URI scheme redirects (RFC 8252 §7.1, §8.6) get the loopback treatment: a warning, a prompt on
 *   every authorization, `prompt=none` → `consent_required`.
 */
import { CHANGED_CHECK, CHANGED_DURING_CONSENT_CHECK, LOOPBACK_CHECK } from 'oidc-provider-cimd';
import {
  Browser,
  type ConsentHarness,
  type DocumentHost,
  recordingAdapter,
  type ShownPrompt,
  startConsentHarness,
  startDocumentHost,
  webDocument,
} from './support.js';

const WEB = 'https://app.example.org/cb';
const EVIL = 'https://evil.example.net/cb';
const LOOPBACK = 'http://127.0.0.1:47021/callback';
const APP = 'com.example.app:/oauth/callback';

let host: DocumentHost;
beforeAll(async () => {
  host = await startDocumentHost();
});
afterAll(() => host.close());

/** Publishes a new version of the document and makes the plugin fetch it (what a short max-age would do). */
async function change(op: ConsentHarness, path: string, document: Record<string, unknown>): Promise<void> {
  const cid = host.publish(path, document);
  await op.cimd.refresh(cid).catch(() => op.cimd.purge(cid));
}

describe('consent bound to the document shown', () => {
  let op: ConsentHarness;
  let models: ReturnType<typeof recordingAdapter>['models'];
  beforeAll(async () => {
    const recording = recordingAdapter();
    models = recording.models;
    op = await startConsentHarness({ config: { adapter: recording.adapter } });
  });
  afterEach(() => {
    op.onConsent = undefined;
    op.beforeView = undefined;
    op.consentResult = undefined;
    op.approve = true;
  });
  afterAll(() => op.close());

  /** The approval recorded for `cid` (the harness signs in one account). */
  const approvalFor = (cid: string) =>
    [...(models.get('CimdConsent')?.values() ?? [])].find((row) => (row as { clientId?: string }).clientId === cid) as
      | { fingerprint: string }
      | undefined;

  it('asks again when the document changed between the page and Allow, and records nothing', async () => {
    const cid = host.publish('/bound.json', webDocument([WEB]));
    const browser = new Browser();
    const pages: ShownPrompt[] = [];
    op.onConsent = async (shown) => {
      pages.push(shown);
      if (pages.length === 1) await change(op, '/bound.json', webDocument([WEB, EVIL]));
      else op.approve = false; // the second page: the user declines the changed client
    };
    const mark = op.prompts.length;
    const end = await op.authorize(browser, cid, WEB);

    const consents = op.consentsSince(mark);
    expect(consents).toHaveLength(2);
    expect(consents[0]!.view?.changedWhileShown).toBeUndefined();
    expect(consents[1]!.reasons).toEqual([CHANGED_DURING_CONSENT_CHECK]);
    expect(consents[1]!.details.changedWhileShown).toEqual([{ field: 'redirect_uris', added: [EVIL], removed: [] }]);
    const warning = consents[1]!.view?.warnings.find((w) => w.id === 'changed_while_shown');
    expect(warning?.details).toEqual([`It can now send you back to: ${EVIL}`]);
    expect(consents[1]!.view?.documentFingerprint).not.toBe(consents[0]!.view?.documentFingerprint);
    expect(end?.searchParams.get('error')).toBe('access_denied');

    // Nothing recorded: no approval for the grant the first Allow saved, so the next silent request fails closed.
    expect(approvalFor(cid)).toBeUndefined();
    const none = await op.authorize(browser, cid, WEB, { prompt: 'none' });
    expect(none?.searchParams.get('error')).toBe('consent_required');

    // Allowing the page that shows the current document records that document.
    op.onConsent = undefined;
    op.approve = true;
    const again = op.prompts.length;
    expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
    const [shown] = op.consentsSince(again);
    expect(shown?.reasons).toContain(CHANGED_CHECK);
    expect(approvalFor(cid)?.fingerprint).toBe(shown?.view?.documentFingerprint);
  });

  it('records the document shown when it is still current at resume (no extra prompt)', async () => {
    const cid = host.publish('/steady.json', webDocument([WEB]));
    const mark = op.prompts.length;
    expect((await op.authorize(new Browser(), cid, WEB))?.searchParams.get('code')).toBeTruthy();
    const consents = op.consentsSince(mark);
    expect(consents).toHaveLength(1);
    expect(approvalFor(cid)?.fingerprint).toBe(consents[0]!.view?.documentFingerprint);
  });

  it('keeps the document the page shows, not the one current when the prompt was decided', async () => {
    const cid = host.publish('/late.json', webDocument([WEB]));
    let changed = false;
    op.beforeView = async () => {
      if (changed) return;
      changed = true;
      await change(op, '/late.json', webDocument([WEB, EVIL]));
    };
    const mark = op.prompts.length;
    expect((await op.authorize(new Browser(), cid, WEB))?.searchParams.get('code')).toBeTruthy();
    const consents = op.consentsSince(mark);
    // The page showed the changed document, and the user allowed it: no second page.
    expect(consents).toHaveLength(1);
    expect(approvalFor(cid)?.fingerprint).toBe(consents[0]!.view?.documentFingerprint);
  });

  it('takes the fingerprint the page passes back over the one kept from a later rendering', async () => {
    const cid = host.publish('/two-tabs.json', webDocument([WEB]));
    const browser = new Browser();
    let first: string | undefined;
    op.onConsent = async (shown) => {
      if (first !== undefined) return;
      first = shown.view!.documentFingerprint;
      // The page is open with the first document; the document changes and the page is rendered again (another
      // tab, a reload): the plugin now keeps the second document with the interaction.
      await change(op, '/two-tabs.json', webDocument([WEB, EVIL]));
      const interaction = await op.provider.Interaction.find(shown.view!.interactionUid);
      const client = await op.provider.Client.find(cid);
      const second = await op.cimd.consentViewModel({ interaction: interaction!, client: client! });
      expect(second.documentFingerprint).not.toBe(first);
    };
    // The user clicks Allow on the first page, which passes back what it showed.
    // Every page passes back the fingerprint it was rendered with (the renderer's hidden field).
    op.consentResult = (shown) => ({ cimdFingerprint: shown.view!.documentFingerprint });
    const mark = op.prompts.length;
    expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
    const consents = op.consentsSince(mark);
    expect(consents).toHaveLength(2);
    expect(consents[1]!.reasons).toEqual([CHANGED_DURING_CONSENT_CHECK]);
  });
});

describe("consent.loopback: 'once'", () => {
  let op: ConsentHarness;
  beforeAll(async () => {
    op = await startConsentHarness({ cimd: { consent: { loopback: 'once' } } });
  });
  afterAll(() => op.close());

  it('is not satisfied by an approval given through the https redirect', async () => {
    const cid = host.publish('/once-mixed.json', webDocument([WEB, LOOPBACK]));
    const browser = new Browser();
    let mark = op.prompts.length;
    expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(1);
    expect(op.consentsSince(mark)[0]!.view?.warnings.some((w) => w.id === 'loopback')).toBe(false);

    // The grant covers the scopes, but no loopback warning was ever shown to this user.
    const silent = await op.authorize(browser, cid, LOOPBACK, { prompt: 'none' });
    expect(silent?.searchParams.get('error')).toBe('consent_required');
    mark = op.prompts.length;
    expect((await op.authorize(browser, cid, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
    const [asked] = op.consentsSince(mark);
    expect(asked?.reasons).toContain(LOOPBACK_CHECK);
    expect(asked?.view?.warnings[0]?.id).toBe('loopback');

    // Now approved for a loopback redirect: once is enough, and a later https approval does not undo it.
    mark = op.prompts.length;
    expect((await op.authorize(browser, cid, LOOPBACK))?.searchParams.get('code')).toBeTruthy();
    expect((await op.authorize(browser, cid, WEB))?.searchParams.get('code')).toBeTruthy();
    expect((await op.authorize(browser, cid, LOOPBACK, { prompt: 'none' }))?.searchParams.get('code')).toBeTruthy();
    expect(op.consentsSince(mark)).toHaveLength(0);
  });
});

describe('private-use URI scheme redirects (RFC 8252 §7.1, §8.6)', () => {
  let op: ConsentHarness;
  beforeAll(async () => {
    op = await startConsentHarness();
  });
  afterAll(() => op.close());

  it('get the warning, a prompt every time, and consent_required for prompt=none', async () => {
    const cid = host.publish('/mobile.json', {
      client_name: 'Mobile App',
      redirect_uris: [APP],
      token_endpoint_auth_method: 'none',
    });
    const browser = new Browser();
    for (let i = 0; i < 2; i++) {
      const mark = op.prompts.length;
      const end = await op.authorize(browser, cid, APP);
      expect(end?.protocol).toBe('com.example.app:');
      expect(end?.searchParams.get('code')).toBeTruthy();
      const [shown] = op.consentsSince(mark);
      expect(shown?.reasons[0]).toBe(LOOPBACK_CHECK);
      expect(shown?.details).toMatchObject({ privateUseRedirect: true, loopbackRedirect: false });
      expect(shown?.view).toMatchObject({ privateUseRedirect: true, redirectHost: 'com.example.app:' });
      expect(shown?.view?.warnings[0]).toMatchObject({ id: 'loopback', severity: 'danger' });
      expect(shown?.view?.warnings[0]?.title).toContain('app on this device (com.example.app:)');
    }
    const none = await op.authorize(browser, cid, APP, { prompt: 'none' });
    expect(none?.protocol).toBe('com.example.app:');
    expect(none?.searchParams.get('error')).toBe('consent_required');
    expect(none?.searchParams.get('code')).toBeNull();
  });
});
