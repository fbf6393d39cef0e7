/**
 * The consent view model: everything a consent page needs, as a plain JSON-serialisable object, for the
 * plugin's renderer or a deployment's own template. Pure: the signals come in already gathered.
 *
 * Client-supplied values (`clientName`, `clientUri`, and the redirect URI, which the client chose) are
 * returned as they are, marked as supplied by the client; a template must escape them like any untrusted text.
 */
import { isLoopbackOnly, isLoopbackRedirectUri, isPrivateUseRedirectUri } from '../rules/redirect-uris.js';
import type { ClientChange } from './fingerprint.js';

/** A string the client's document supplied: unverified. */
export interface SuppliedText {
  /** Exactly as the client supplied it. */
  value: string;
  /**
   * For display: every character that can disguise text (controls, bidi overrides, zero-width and other format
   * characters, line and paragraph separators, invisible fillers) replaced by U+FFFD, at most 120 characters.
   */
  display: string;
  suppliedByClient: true;
}

export interface ConsentResource {
  /** The resource indicator (RFC 8707). */
  resource: string;
  /** Its `host[:port]`, when it is a URL. */
  host: string | undefined;
  /** Scopes asked for at this resource and not granted yet. */
  scopes: string[];
}

export type ConsentWarningId =
  | 'loopback'
  | 'changed_while_shown'
  | 'changed_client'
  | 'approval_unknown'
  | 'new_client';

export interface ConsentWarning {
  id: ConsentWarningId;
  /** `danger`: the loopback and the two changed warnings; `caution`: the new-client and confirm-again notices. */
  severity: 'danger' | 'caution';
  /** One sentence, plain text (escape it). */
  title: string;
  /** Plain text (escape it). */
  text: string;
  /** Further plain-text lines (what changed), possibly empty. */
  details: string[];
}

export interface NewClientSignal {
  /** False when the shared store could not be read: the client then counts as new. */
  known: boolean;
  /** When this server first saw the client id (ISO 8601), when known. */
  firstSeenAt: string | undefined;
  /** Distinct users who granted it, counted up to the threshold, when known. */
  users: number | undefined;
}

export interface ConsentViewModel {
  /** The interaction's uid (for form actions). */
  interactionUid: string;
  /** The signed-in account, when there is one. */
  accountId: string | undefined;
  /** The client_id exactly as received. */
  clientId: string;
  /**
   * `host[:port]` of a URL client_id (a CIMD client): the one name the server verified, by fetching the
   * document from it. `undefined` for a registered client with an ordinary id. Show it most prominently.
   */
  clientHost: string | undefined;
  /** Whether the client is known through its Client ID Metadata Document. */
  isMetadataDocumentClient: boolean;
  /** The redirect URI of this request (or the client's only one). */
  redirectUri: string | undefined;
  /** `host[:port]` of the redirect URI, or its scheme (`com.example.app:`) for a private-use scheme. Show it prominently. */
  redirectHost: string | undefined;
  /** `client_name`: supplied by the client, unverified. */
  clientName: SuppliedText | undefined;
  /** `client_uri`: supplied by the client, unverified. Never make it a link that loads anything by itself. */
  clientUri: SuppliedText | undefined;
  /** The client's logo on this server's own origin (a path), or `undefined`: then show none. */
  logoUrl: string | undefined;
  /** Scopes in the request. */
  scopes: string[];
  /** OpenID scopes asked for and not yet granted. */
  newScopes: string[];
  /** Resource scopes asked for and not yet granted, per resource. */
  resources: ConsentResource[];
  /** Every redirect URI of the client is loopback: any local program can receive the response. */
  loopbackOnly: boolean;
  /** The redirect URI of this request is loopback: any local program can receive the response. */
  loopbackRedirect: boolean;
  /**
   * The redirect URI of this request uses a private-use URI scheme (RFC 8252 §7.1, `com.example.app:/cb`): any
   * app on the device can claim the scheme and receive the response. Warned about like a loopback redirect.
   */
  privateUseRedirect: boolean;
  /** The client id matches a trusted pattern (the new-client notice is then never shown). */
  trusted: boolean;
  /** The client is new to this server (below the thresholds, or unknown). Never for trusted or registered clients. */
  isNew: boolean;
  /** The facts behind `isNew`; `undefined` when the signal does not apply (off, trusted, not a CIMD client). */
  newClient: NewClientSignal | undefined;
  /** The security-relevant parts of the document changed since this user's last grant. */
  changed: boolean;
  /** What changed (empty when nothing did or it is not known). */
  changes: ClientChange[];
  /**
   * The user allowed on an earlier showing of this page, but the client's document changed before the answer
   * arrived, so nothing was recorded and the page asks again: what changed (possibly empty when not known).
   * `undefined` otherwise.
   */
  changedWhileShown: ClientChange[] | undefined;
  /**
   * sha256 (hex) of the security-relevant parts (redirect URIs, auth method, keys) of the document this view
   * describes. The plugin keeps it with the interaction when `interaction` is oidc-provider's Interaction; a page
   * can also pass it back as `consent.cimdFingerprint` in the interaction result (the plugin's renderer puts it
   * in a hidden `cimdFingerprint` field of the Allow form). At resume, a different current document asks again.
   */
  documentFingerprint: string;
  /** Ready-made texts, most severe first. */
  warnings: ConsentWarning[];
}

/** What the caller gathered; see `createConsent` for how. */
export interface ConsentFacts {
  uid: string;
  params: Readonly<Record<string, unknown>>;
  promptDetails: Readonly<Record<string, unknown>>;
  accountId: string | undefined;
  clientId: string;
  /** Client metadata in snake_case (oidc-provider's `client.metadata()`). */
  metadata: Readonly<Record<string, unknown>>;
  isMetadataDocumentClient: boolean;
  /**
   * The plugin's consent checks apply to this client (a CIMD client, or any client with
   * `consent.registeredClients`). Default: `isMetadataDocumentClient`. The private-use scheme warning is shown
   * only then: a registered native app's own scheme is the deployment's business.
   */
  checksApply?: boolean;
  logoUrl: string | undefined;
  trusted: boolean;
  /** `undefined`: the signal does not apply. */
  newClient: (NewClientSignal & { isNew: boolean }) | undefined;
  /** `undefined`: not known (signal off, no account, store unavailable). */
  changes: ClientChange[] | undefined;
  /** Set on the page that asks again because the document changed while it was shown the last time. */
  changedWhileShown?: ClientChange[] | undefined;
  /** The fingerprint of `metadata`'s security-relevant parts. */
  documentFingerprint: string;
  now: number;
}

// Characters that can disguise what a name says: controls (Cc), format characters (Cf: bidi embeddings,
// overrides, isolates and marks, zero-width space/joiners, soft hyphen, word joiner, BOM, tag characters…), line
// and paragraph separators (Zl, Zp), and letters that render as nothing (Hangul fillers, the braille blank).
const UNSAFE_DISPLAY = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u115f\u1160\u2800\u3164\uffa0]/gu;
const MAX_DISPLAY = 120;

/**
 * Replaces every character that can disguise text (C0 and C1 controls, so ESC/CSI/OSC sequences lose their
 * introducer, bidi embeddings, overrides and isolates, zero-width and other format characters, line and
 * paragraph separators, blank-rendering letters) with U+FFFD. The one implementation: the consent page and the
 * `cimd` CLI (packages/cli/src/sanitize.ts) both use it.
 */
export function neutralizeText(value: string): string {
  return value.replace(UNSAFE_DISPLAY, '\ufffd');
}

export function displayText(value: string): string {
  const cleaned = neutralizeText(value);
  const chars = [...cleaned];
  return chars.length > MAX_DISPLAY ? `${chars.slice(0, MAX_DISPLAY - 1).join('')}…` : cleaned;
}

function supplied(value: unknown): SuppliedText | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return { value, display: displayText(value), suppliedByClient: true };
}

/** `host[:port]` of an http(s) URL; the scheme (`com.example.app:`) of a private-use URI; else undefined. */
export function hostOf(uri: string | undefined): string | undefined {
  if (uri === undefined) return undefined;
  const url = URL.parse(uri);
  if (!url) return undefined;
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.host || undefined;
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}

const words = (value: unknown): string[] =>
  typeof value === 'string' ? value.split(' ').filter((scope) => scope !== '') : [];

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function ago(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  if (hours < 1) return 'less than an hour ago';
  if (hours < 48) return hours === 1 ? 'an hour ago' : `${hours} hours ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

function describeChange(change: ClientChange): string[] {
  switch (change.field) {
    case 'redirect_uris':
      return [
        ...(change.added.length ? [`It can now send you back to: ${change.added.join(', ')}`] : []),
        ...(change.removed.length ? [`It no longer sends you back to: ${change.removed.join(', ')}`] : []),
      ];
    case 'token_endpoint_auth_method':
      return [`How it proves its identity changed from "${change.from}" to "${change.to}".`];
    case 'keys':
      return [`Its keys changed (before: ${change.from}; now: ${change.to}).`];
  }
}

export function buildConsentViewModel(facts: ConsentFacts): ConsentViewModel {
  const { metadata, params } = facts;
  const registered = stringList(metadata.redirect_uris);
  const redirectUri =
    typeof params.redirect_uri === 'string' ? params.redirect_uri : registered.length === 1 ? registered[0] : undefined;
  const clientHost = facts.clientId.startsWith('https://') ? hostOf(facts.clientId) : undefined;
  const redirectHost = hostOf(redirectUri);
  const loopbackOnly = isLoopbackOnly(registered);
  const loopbackRedirect = redirectUri !== undefined && isLoopbackRedirectUri(redirectUri);
  const privateUseRedirect = redirectUri !== undefined && isPrivateUseRedirectUri(redirectUri);
  const who = clientHost ?? facts.clientId;

  const details = facts.promptDetails;
  const newScopes = stringList(details.missingOIDCScope);
  const resources: ConsentResource[] = Object.entries(
    (details.missingResourceScopes ?? {}) as Record<string, unknown>,
  ).map(([resource, scopes]) => ({ resource, host: hostOf(resource), scopes: stringList(scopes) }));

  const changes = facts.changes ?? [];
  const isNew = facts.newClient?.isNew ?? false;
  const warnings: ConsentWarning[] = [];
  if (privateUseRedirect && (facts.checksApply ?? facts.isMetadataDocumentClient)) {
    // RFC 8252 §8.6: any app can register a private-use scheme; the user is the only check that this is the app.
    warnings.push({
      id: 'loopback',
      severity: 'danger',
      title: `Warning: this sign-in returns to an app on this device (${redirectHost ?? 'an app link'}), not to a website.`,
      text: `Any app on your device can claim this link and present itself as ${who}. Allow only if you started this sign-in yourself just now.`,
      details: [],
    });
  } else if (loopbackOnly || loopbackRedirect) {
    const target = redirectHost ?? 'localhost';
    warnings.push({
      id: 'loopback',
      severity: 'danger',
      title: loopbackOnly
        ? `Warning: this application can only return to this computer (${target}).`
        : `Warning: this sign-in returns to a program on this computer (${target}), not to a website.`,
      text: `Any program running on your computer can present itself as ${who}. Allow only if you started this sign-in yourself just now.`,
      details: [],
    });
  }
  const changedWhileShown = facts.changedWhileShown;
  if (changedWhileShown) {
    warnings.push({
      id: 'changed_while_shown',
      severity: 'danger',
      title: `${who} changed while this page was open.`,
      text: 'Its client metadata document changed after you were shown it, so your answer was not recorded. Check what it says now, and allow only if you expected this change.',
      details: changedWhileShown.flatMap(describeChange),
    });
  }
  if (changes.length) {
    warnings.push({
      id: 'changed_client',
      severity: 'danger',
      title: `${who} changed since you last allowed it.`,
      text: 'Its client metadata document now says something different about where it sends you back to or how it proves its identity. Allow only if you expected this change.',
      details: changes.flatMap(describeChange),
    });
  }
  // The changed-client check asked because what this user approved before could not be read (fail closed).
  const approval = details.approval;
  if (!changes.length && (approval === 'missing' || approval === 'unavailable')) {
    warnings.push({
      id: 'approval_unknown',
      severity: 'caution',
      title: 'Please confirm again.',
      text: `This server could not confirm what you allowed ${who} to do before, so it asks you again. Allow only if you know and trust this application.`,
      details: [],
    });
  }
  if (isNew && facts.newClient) {
    const signal = facts.newClient;
    let text: string;
    if (!signal.known) {
      text = `This server could not check whether it knows ${who}. Allow only if you know and trust this application.`;
    } else {
      const seen = signal.firstSeenAt ? ago(facts.now - Date.parse(signal.firstSeenAt)) : 'recently';
      const users =
        signal.users === 0
          ? 'nobody has allowed it yet'
          : signal.users === 1
            ? 'one person has allowed it so far'
            : `${signal.users} people have allowed it so far`;
      text = `This server first saw ${who} ${seen}, and ${users}. Allow only if you know and trust this application.`;
    }
    warnings.push({ id: 'new_client', severity: 'caution', title: 'New to this server.', text, details: [] });
  }

  return {
    interactionUid: facts.uid,
    accountId: facts.accountId,
    clientId: facts.clientId,
    clientHost,
    isMetadataDocumentClient: facts.isMetadataDocumentClient,
    redirectUri,
    redirectHost,
    clientName: supplied(metadata.client_name),
    clientUri: supplied(metadata.client_uri),
    logoUrl: facts.logoUrl,
    scopes: words(params.scope),
    newScopes,
    resources,
    loopbackOnly,
    loopbackRedirect,
    privateUseRedirect,
    trusted: facts.trusted,
    isNew,
    newClient: facts.newClient
      ? { known: facts.newClient.known, firstSeenAt: facts.newClient.firstSeenAt, users: facts.newClient.users }
      : undefined,
    changed: changes.length > 0,
    changes,
    changedWhileShown,
    documentFingerprint: facts.documentFingerprint,
    warnings,
  };
}
