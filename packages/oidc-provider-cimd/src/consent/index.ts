/**
 * Consent: the interaction-policy checks, the signals they and the view model share (first seen, users who
 * granted, the fingerprint of the approved document), and the logo proxy. Created by `createCimd`, which
 * exposes it on the plugin object.
 *
 * Which clients the checks apply to is decided from the client id alone (an `https://` id that passes the URL
 * rules is a CIMD client), never from whether its document happens to be cached: a `no-store` response must not
 * switch anything off. Registered (static, DCR) clients are left to oidc-provider unless the deployment opts in
 * with `consent.registeredClients`.
 */
import type Keyv from 'keyv';
import { type Adapter, type Configuration, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { CacheInspection } from '../core/entry.js';
import type { SharedGuard } from '../core/shared-guard.js';
import type { Fetcher } from '../fetch/fetcher.js';
import { isLoopbackOnly, type LocalRedirectKind, localRedirectKind } from '../rules/redirect-uris.js';
import { type ClientPattern, compilePatterns } from '../rules/trust.js';
import { type ApprovalRead, Approvals } from './approvals.js';
import { type ClientChange, diffParts, fingerprint, type SecurityParts, securityParts } from './fingerprint.js';
import { type LogoOptions, LogoProxy } from './logo.js';
import { ConsentRecords } from './records.js';
import { FINGERPRINT_FIELD, readShown, SHOWN_DOCUMENT_DETAIL, type ShownDocument } from './shown.js';
import { buildConsentViewModel, type ConsentViewModel, type NewClientSignal } from './view-model.js';

export interface ConsentOptions {
  /**
   * `'auto'` (default): `configure()` adds the plugin's checks to the consent prompt of
   * `interactions.policy` (oidc-provider's base policy when the configuration has none). `'manual'`: it
   * leaves the policy alone, and the deployment calls `cimd.interactionPolicy(policy)` itself.
   */
  policy?: 'auto' | 'manual';
  /**
   * Authorizations whose requested `redirect_uri` is loopback or a private-use URI scheme (RFC 8252 §7.1, §7.3:
   * any local program can receive the response): `'always'` (default) asks for consent every time, even with an
   * existing grant, also for clients that register https redirect URIs too; `'once'` asks until this user has
   * approved the client (its current document) once through this plugin for that kind of redirect (loopback, or
   * private-use): an approval given through an https redirect, which showed no warning, never counts.
   */
  loopback?: 'always' | 'once';
  /**
   * Also apply the loopback and changed-client checks to registered (static and DCR) clients. Default false:
   * they apply to CIMD clients (URL client ids) only, and registered clients keep oidc-provider's behaviour.
   */
  registeredClients?: boolean;
  /**
   * The oidc-provider adapter (factory or class) that keeps what users approved, as the model `CimdConsent`.
   * Default: the provider's own `adapter` (oidc-provider's in-memory adapter when it has none). Never the
   * document cache: approvals must not be evictable by unauthenticated traffic.
   */
  adapter?: ((name: string) => Adapter) | (new (name: string) => Adapter);
  /** How long one read or write of an approval may take before it counts as failed (the user is asked), ms. Default 2000. */
  approvalTimeoutMs?: number;
  /** Client id patterns (exact ids, `host`, `*.host`) that never get the new-client notice (the loopback warning stays). */
  trusted?: readonly ClientPattern[];
  /**
   * New-client signal (SPEC.domainTrust): a CIMD client is "new" while this server first saw it less than
   * `minAgeMs` ago (default 7 days) OR fewer than `minUsers` users granted it (default 5). `false`: off.
   */
  newClient?: false | { minAgeMs?: number; minUsers?: number };
  /**
   * Changed-client signal (SPEC.changedMetadata): remember, per user and client, a fingerprint of the redirect URIs,
   * auth method and keys the user approved; ask again when they change. Default true.
   */
  changedClient?: boolean;
  /** Logo proxy options; `false`: never show logos. */
  logo?: false | LogoOptions;
  /** How long first-seen records (and approvals of grants without an expiry) are kept after their last write, ms. Default 400 days. */
  recordTtlMs?: number;
}

/** The parts of oidc-provider's `interactionDetails()` result the view model reads. */
export interface ConsentInteraction {
  uid: string;
  params: Readonly<Record<string, unknown>>;
  prompt: { name: string; reasons?: readonly string[]; details?: Readonly<Record<string, unknown>> };
  session?: { accountId: string } | undefined;
  /** The existing grant this interaction would extend, when there is one (oidc-provider sets it). */
  grantId?: string | undefined;
}

/** An oidc-provider `Client` (anything with `clientId` and `metadata()`), or client metadata with `client_id`. */
export type ConsentClient = { clientId: string; metadata(): object } | Readonly<Record<string, unknown>>;

export interface ConsentViewModelInput {
  /** `await provider.interactionDetails(req, res)`. */
  interaction: ConsentInteraction;
  /** `await provider.Client.find(interaction.params.client_id)`. */
  client: ConsentClient;
}

/** The reasons of the checks the plugin adds to the consent prompt. */
export const LOOPBACK_CHECK = 'cimd_loopback_client';
export const CHANGED_CHECK = 'cimd_client_changed';
export const CHANGED_DURING_CONSENT_CHECK = 'cimd_client_changed_during_consent';

export interface ConsentDependencies {
  options: ConsentOptions;
  store: Keyv;
  guard: SharedGuard;
  fetcher: Fetcher;
  now: () => number;
  /** The plugin's cached entry for a client id, when it is a CIMD client (no fetch, no event). */
  inspect: (cid: string) => Promise<CacheInspection | undefined>;
  /** Whether a client id is a CIMD client id (decided from the id: an https URL that passes the URL rules). */
  isMetadataDocumentClient: (cid: string) => boolean;
}

/** oidc-provider's interaction policy (`interactionPolicy.base()` and what a deployment makes of it). */
export type InteractionPolicy = readonly interactionPolicy.Prompt[];
/** What `interactionPolicy.base()` returns. */
export type DefaultInteractionPolicy = interactionPolicy.DefaultPolicy;

interface Evaluation {
  /** The checks apply to this client (a CIMD client, or any client with `registeredClients`). */
  applies: boolean;
  /** The requested redirect URI hands the response to a program on the device (loopback, private-use scheme). */
  localRedirect: LocalRedirectKind | undefined;
  consented: boolean;
  /** The user has an earlier grant for this client. */
  granted: boolean;
  /** What the user approved under that grant: `found`, or `missing`/`unavailable` (then ask: fail closed). */
  approval: ApprovalRead['status'] | undefined;
  changes: ClientChange[];
  /** For what kind of redirect the found approval was given (`undefined`: an https redirect, or not known). */
  approvedFor: LocalRedirectKind | undefined;
  /**
   * Set at resume when the document changed after the consent page showed it: what changed (empty when the
   * page's document is known by its fingerprint only). The user is asked again; nothing was recorded.
   */
  changedWhileShown: ClientChange[] | undefined;
}

const DAY = 24 * 60 * 60 * 1000;

export interface Consent {
  interactionPolicy<P extends InteractionPolicy = interactionPolicy.DefaultPolicy>(policy?: P): P;
  composeInteractions(interactions: Configuration['interactions']): Configuration['interactions'];
  viewModel(input: ConsentViewModelInput): Promise<ConsentViewModel>;
  readonly logos: LogoProxy | undefined;
  /**
   * Where approvals are kept: `configure()` passes the adapter the provider uses (the deployment's, or the
   * plugin's development adapter when it has none). `consent.adapter`, when set, wins.
   */
  useAdapter(adapter: ((name: string) => Adapter) | (new (name: string) => Adapter)): void;
}

type AdapterInput = ((name: string) => Adapter) | (new (name: string) => Adapter);

function adapterSource(adapter: AdapterInput): (name: string) => Adapter {
  const isClass = typeof adapter === 'function' && typeof adapter.prototype === 'object' && adapter.prototype !== null;
  return (name) =>
    isClass ? new (adapter as new (name: string) => Adapter)(name) : (adapter as (name: string) => Adapter)(name);
}

function metadataOf(client: ConsentClient): { clientId: string; metadata: Record<string, unknown> } {
  if (typeof (client as { metadata?: unknown }).metadata === 'function') {
    const c = client as { clientId: string; metadata(): object };
    return { clientId: c.clientId, metadata: c.metadata() as Record<string, unknown> };
  }
  const metadata = client as Record<string, unknown>;
  if (typeof metadata.client_id !== 'string')
    throw new TypeError('oidc-provider-cimd: client metadata without client_id');
  return { clientId: metadata.client_id, metadata };
}

function withDeadline<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((resolve) => {
      timer = setTimeout(resolve, ms, fallback);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

export function createConsent(deps: ConsentDependencies): Consent {
  const { options, now } = deps;
  // Validated by the options table (plugin/options.ts, `consent`); nothing is checked here.
  const loopbackMode = options.loopback ?? 'always';
  const newClient = options.newClient === false ? undefined : { minAgeMs: 7 * DAY, minUsers: 5, ...options.newClient };
  const changedClient = options.changedClient !== false;
  const registeredClients = options.registeredClients === true;
  const isTrusted = compilePatterns(options.trusted ?? []);
  const ttlMs = options.recordTtlMs ?? 400 * DAY;
  const records = new ConsentRecords({
    store: deps.store,
    guard: deps.guard,
    now,
    ttlMs,
    maxUsers: Math.max(1, newClient?.minUsers ?? 1),
  });
  const approvals = new Approvals({ now, ttlMs, timeoutMs: options.approvalTimeoutMs ?? 2000 });
  if (options.adapter) approvals.use(adapterSource(options.adapter));
  const logos =
    options.logo === false
      ? undefined
      : new LogoProxy({ ...options.logo, fetcher: deps.fetcher, store: deps.store, guard: deps.guard, now });

  const trusted = (cid: string) => {
    const url = URL.parse(cid);
    return url !== null && isTrusted(cid, url);
  };

  /** Decided from the id alone, never from the cache (a `no-store` document is not cached). Never throws. */
  const isCimdClient = (cid: string): boolean => {
    if (!cid.startsWith('https://')) return false;
    try {
      return deps.isMetadataDocumentClient(cid);
    } catch {
      return false;
    }
  };

  /** The plugin's cached entry of a CIMD client, for the logo's lifetime only. Never throws. */
  const cimdEntry = async (cid: string) => {
    try {
      return await deps.inspect(cid);
    } catch {
      return undefined;
    }
  };

  const startLogo = (cid: string, metadata: Record<string, unknown>, entry: CacheInspection | undefined) => {
    const logoUri = metadata.logo_uri;
    if (!logos || typeof logoUri !== 'string') return undefined;
    return logos.ensure(cid, logoUri, entry?.entry.freshUntil ?? now() + 5 * 60_000);
  };

  /** The redirect URI of the request: the parameter, or the client's only registered one (oidc-provider's rule). */
  const requestedRedirect = (params: Readonly<Record<string, unknown>>, registered: readonly string[]) =>
    typeof params.redirect_uri === 'string' ? params.redirect_uri : registered.length === 1 ? registered[0] : undefined;

  // Both checks of one authorization request share one evaluation.
  const evaluations = new WeakMap<object, Promise<Evaluation>>();

  async function evaluate(ctx: KoaContextWithOIDC): Promise<Evaluation> {
    const { oidc } = ctx;
    const client = oidc.client!;
    const cid = client.clientId;
    const cimd = isCimdClient(cid);
    const applies = cimd || registeredClients;
    const accountId = oidc.session?.accountId;
    const consent = oidc.result?.consent as { grantId?: unknown } | undefined;
    const consented = Boolean(consent);
    // client.metadata() builds a fresh object of every member: only worth it when something reads it.
    let metadata: Record<string, unknown> | undefined;
    const clientMetadata = () => {
      metadata ??= client.metadata() as Record<string, unknown>;
      return metadata;
    };
    const redirect = requestedRedirect(oidc.params ?? {}, client.redirectUris ?? []);
    const localRedirect = localRedirectKind(redirect);
    const needApproval = applies && (changedClient || (localRedirect !== undefined && loopbackMode === 'once'));
    const parts = needApproval || consented ? securityParts(clientMetadata()) : undefined;
    const print = parts ? fingerprint(parts) : undefined;

    // An existing grant is one oidc-provider loaded for this session and client (loadExistingGrant); a new,
    // unsaved Grant carries an id the session does not know.
    const grant = oidc.entities?.Grant as { jti?: string; exp?: number } | undefined;
    const sessionGrantId = oidc.session?.grantIdFor?.(cid) as string | undefined;
    const existingGrantId = grant?.jti !== undefined && grant.jti === sessionGrantId ? grant.jti : undefined;

    // Fire and forget: the consent page waits for it (briefly) when it renders. The cached entry (for the logo's
    // lifetime) is only looked up when there is a logo to fetch: most /auth requests have none, and this runs on
    // every one of them.
    if (logos && typeof client.logoUri === 'string') {
      const entry = cimd ? await cimdEntry(cid) : undefined;
      startLogo(cid, clientMetadata(), entry)?.catch(() => {});
    }

    if (consented && accountId) {
      // Consent is bound to what the user saw (SPEC.domainTrust, docs/consent.md): when the document changed between showing the page and this resume (a refetch after a short
      // max-age, a refresh on another instance), the user approved redirect URIs or keys other than the current
      // ones. Ask again, and record nothing: neither the approval nor the user among the client's users.
      const shown = applies ? shownDocument(ctx) : undefined;
      if (shown && print && parts && shown.fingerprint !== print) {
        return {
          applies,
          localRedirect,
          consented,
          granted: true,
          approval: undefined,
          changes: [],
          approvedFor: undefined,
          changedWhileShown: shown.parts ? diffParts(shown.parts, parts) : [],
        };
      }
      // The user approved in this very interaction: remember what they approved, under the grant that holds it.
      const grantId = typeof consent?.grantId === 'string' ? consent.grantId : grant?.jti;
      const record = {
        accountId,
        clientId: cid,
        fingerprint: print!,
        parts: parts!,
        ...(localRedirect ? { localRedirect } : {}),
      };
      await Promise.all([
        applies && grantId && parts && print ? approvals.write(grantId, record, grant?.exp) : undefined,
        cimd && newClient ? records.addUser(cid, accountId) : undefined,
      ]);
      return {
        applies,
        localRedirect,
        consented,
        granted: true,
        approval: 'found',
        changes: [],
        approvedFor: localRedirect,
        changedWhileShown: undefined,
      };
    }
    if (cimd && newClient && !records.noted(cid)) await records.noteSeen(cid);

    let approval: ApprovalRead | undefined;
    if (needApproval && accountId && existingGrantId) approval = await approvals.read(existingGrantId, accountId, cid);
    const changes =
      changedClient && approval?.status === 'found' && approval.record.fingerprint !== print && parts
        ? diffParts(approval.record.parts, parts)
        : [];
    return {
      applies,
      localRedirect,
      consented,
      granted: existingGrantId !== undefined,
      approval: approval?.status,
      changes,
      approvedFor: approval?.status === 'found' ? approval.record.localRedirect : undefined,
      changedWhileShown: undefined,
    };
  }

  /**
   * At resume: the document the consent page showed. The page's own word (the fingerprint it passed back in the
   * consent result) wins; else the one kept with the interaction (the view model's, or the one current when the
   * prompt was decided). `undefined` when the consent did not come from a consent prompt of ours.
   */
  function shownDocument(ctx: KoaContextWithOIDC): ShownDocument | undefined {
    const interaction = ctx.oidc.entities?.Interaction as
      | { prompt?: { name?: string; details?: Record<string, unknown> } }
      | undefined;
    const kept =
      interaction?.prompt?.name === 'consent'
        ? readShown(interaction.prompt.details?.[SHOWN_DOCUMENT_DETAIL])
        : undefined;
    const passed = (ctx.oidc.result?.consent as Record<string, unknown> | undefined)?.[FINGERPRINT_FIELD];
    if (typeof passed === 'string') {
      return { fingerprint: passed, parts: kept?.fingerprint === passed ? kept.parts : undefined };
    }
    return kept;
  }

  const evaluation = (ctx: KoaContextWithOIDC): Promise<Evaluation> => {
    let pending = evaluations.get(ctx);
    if (!pending) {
      pending = evaluate(ctx);
      evaluations.set(ctx, pending);
    }
    return pending;
  };

  const loopbackCheck = new interactionPolicy.Check(
    LOOPBACK_CHECK,
    'authorizations whose redirect_uri is loopback or a private-use URI scheme require consent on every authorization',
    'consent_required',
    async (ctx) => {
      if (!ctx.oidc.client) return false;
      const result = await evaluation(ctx);
      // Any local program can present a well-known client's id with its own loopback redirect URI, whatever
      // other redirect URIs the client registers (MCP: SHOULD warn for localhost redirects). Any app can claim a
      // private-use scheme the same way (RFC 8252 §8.6: such requests SHOULD NOT be processed without user
      // interaction).
      if (!result.applies || result.localRedirect === undefined || result.consented) {
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }
      if (loopbackMode === 'always') return interactionPolicy.Check.REQUEST_PROMPT;
      // 'once': only an approval given for this kind of redirect, whose page carried the warning, counts.
      return (
        !result.granted ||
        result.approval !== 'found' ||
        result.approvedFor !== result.localRedirect ||
        result.changes.length > 0
      );
    },
    async (ctx) => {
      const result = await evaluation(ctx);
      return {
        loopbackOnly: isLoopbackOnly(ctx.oidc.client?.redirectUris ?? []),
        loopbackRedirect: result.localRedirect === 'loopback',
        privateUseRedirect: result.localRedirect === 'private-use',
      };
    },
  );

  const changedDuringConsentCheck = new interactionPolicy.Check(
    CHANGED_DURING_CONSENT_CHECK,
    "the client's redirect URIs, keys or authentication method changed while the consent page was shown",
    'consent_required',
    async (ctx) => {
      if (!ctx.oidc.client) return false;
      return (await evaluation(ctx)).changedWhileShown !== undefined;
    },
    async (ctx) => ({ changedWhileShown: (await evaluation(ctx)).changedWhileShown ?? [] }),
  );

  /** The document a consent prompt is about, when it is decided: kept with the interaction (prompt details). */
  const promptDocument = (ctx: KoaContextWithOIDC): Record<string, unknown> | undefined => {
    const client = ctx.oidc.client;
    if (!client || !(isCimdClient(client.clientId) || registeredClients)) return undefined;
    const parts = securityParts(client.metadata() as Record<string, unknown>);
    return { [SHOWN_DOCUMENT_DETAIL]: { fingerprint: fingerprint(parts), parts } satisfies ShownDocument };
  };
  const withDocument = new WeakSet<interactionPolicy.Prompt>();

  const changedCheck = new interactionPolicy.Check(
    CHANGED_CHECK,
    "the client's redirect URIs, keys or authentication method changed since the user's grant, or what the user approved cannot be read",
    'consent_required',
    async (ctx) => {
      if (!changedClient || !ctx.oidc.client) return false;
      const result = await evaluation(ctx);
      if (!result.applies || result.consented || !result.granted) return false;
      // Fails closed: a grant whose approval is missing or unreadable is treated as a changed client.
      return result.approval !== 'found' || result.changes.length > 0;
    },
    async (ctx) => {
      const result = await evaluation(ctx);
      return {
        clientChanges: result.changes,
        ...(result.approval !== 'found' ? { approval: result.approval ?? 'unavailable' } : {}),
      };
    },
  );

  function interactionPolicyWithChecks<P extends InteractionPolicy = interactionPolicy.DefaultPolicy>(policy?: P): P {
    const target = (policy ?? interactionPolicy.base()) as P;
    const consent = target.find((prompt) => prompt.name === 'consent');
    if (!consent) {
      throw new TypeError(
        "oidc-provider-cimd: the interaction policy has no 'consent' prompt, so the consent rule for loopback redirects cannot be added; add one, or set consent.policy to 'manual' and enforce it yourself",
      );
    }
    // First, so that prompt=none reports consent_required (the first failing check names the error), and
    // ahead of oidc-provider's own native_client_prompt (interaction_required).
    const ours = [changedDuringConsentCheck, loopbackCheck, changedCheck].filter(
      (check) => !consent.checks.some((existing) => existing.reason === check.reason),
    );
    consent.checks.splice(0, 0, ...ours);
    if (!withDocument.has(consent)) {
      withDocument.add(consent);
      const details = consent.details;
      consent.details = async (ctx) => ({ ...(await details(ctx)), ...promptDocument(ctx) });
    }
    return target;
  }

  async function viewModel(input: ConsentViewModelInput): Promise<ConsentViewModel> {
    const { interaction } = input;
    const { clientId, metadata } = metadataOf(input.client);
    if (interaction.params.client_id !== undefined && interaction.params.client_id !== clientId) {
      throw new TypeError('oidc-provider-cimd: the client is not the one of this interaction');
    }
    const accountId = interaction.session?.accountId;
    const cimd = isCimdClient(clientId);
    const entry = cimd ? await cimdEntry(clientId) : undefined;
    const isTrustedClient = cimd && trusted(clientId);
    const parts: SecurityParts = securityParts(metadata);
    const print = fingerprint(parts);
    const details = interaction.prompt.details ?? {};
    // What the checks worked out is about the document current when the prompt was decided; when the document
    // changed since, work the changes out again for the one this page shows.
    const kept = readShown(details[SHOWN_DOCUMENT_DETAIL]);
    const decidedOnShown = kept === undefined || kept.fingerprint === print;
    const detailChanges =
      decidedOnShown && Array.isArray(details.clientChanges) ? (details.clientChanges as ClientChange[]) : undefined;
    const changedWhileShown = Array.isArray(details.changedWhileShown)
      ? (details.changedWhileShown as ClientChange[])
      : undefined;

    const [, logo, clientRead, approval] = await Promise.all([
      // Consent is bound to what the user saw: keep this document with the interaction; at resume a different one
      // asks again.
      (cimd || registeredClients) && !(kept?.fingerprint === print)
        ? keepShown(interaction, { fingerprint: print, parts })
        : undefined,
      logos
        ? withDeadline(startLogo(clientId, metadata, entry) ?? Promise.resolve(undefined), logos.waitMs, undefined)
        : undefined,
      cimd && newClient && !isTrustedClient ? records.client(clientId) : undefined,
      // The check already worked the changes out; read the approval only when it did not run.
      accountId && changedClient && interaction.grantId && !detailChanges && (cimd || registeredClients)
        ? approvals.read(interaction.grantId, accountId, clientId)
        : undefined,
    ]);

    let newSignal: (NewClientSignal & { isNew: boolean }) | undefined;
    if (clientRead && newClient) {
      // Normally the check noted the client already; a deployment that wires its own policy may not run it.
      const record = clientRead.ok ? (clientRead.value ?? (await records.noteSeen(clientId, clientRead))) : undefined;
      if (!clientRead.ok) {
        newSignal = { known: false, firstSeenAt: undefined, users: undefined, isNew: true };
      } else {
        const firstSeen = record?.firstSeen ?? now();
        const users = record?.users.length ?? 0;
        newSignal = {
          known: true,
          firstSeenAt: new Date(firstSeen).toISOString(),
          users,
          isNew: now() - firstSeen < newClient.minAgeMs || users < newClient.minUsers,
        };
      }
    }
    let changes = detailChanges;
    if (!changes && approval?.status === 'found' && approval.record.fingerprint !== fingerprint(parts)) {
      changes = diffParts(approval.record.parts, parts);
    }

    return buildConsentViewModel({
      uid: interaction.uid,
      params: interaction.params,
      promptDetails: details,
      accountId,
      clientId,
      metadata,
      isMetadataDocumentClient: cimd,
      checksApply: cimd || registeredClients,
      logoUrl: logo?.ok ? logo.url : undefined,
      trusted: isTrustedClient,
      newClient: newSignal,
      changes,
      changedWhileShown,
      documentFingerprint: print,
      now: now(),
    });
  }

  /**
   * Records `shown` in the interaction's prompt details and saves the interaction, when it is oidc-provider's
   * Interaction (what `interactionDetails()` returns). A plain copy cannot be saved: then the page passes the
   * fingerprint back in the consent result (FINGERPRINT_FIELD). A failed or slow save leaves the document of the
   * prompt's decision in place, and at resume a difference asks again: never a wrong record.
   */
  async function keepShown(interaction: ConsentInteraction, shown: ShownDocument): Promise<void> {
    const target = interaction as unknown as { prompt?: { details?: Record<string, unknown> }; persist?: unknown };
    const details = target.prompt?.details;
    if (typeof target.persist !== 'function' || details === null || typeof details !== 'object') return;
    details[SHOWN_DOCUMENT_DETAIL] = shown;
    const persist = target.persist as () => Promise<unknown>;
    await withDeadline(
      Promise.resolve()
        .then(() => persist.call(target))
        .catch(() => undefined),
      options.approvalTimeoutMs ?? 2000,
      undefined,
    );
  }

  return {
    interactionPolicy: interactionPolicyWithChecks,
    composeInteractions(interactions) {
      if (options.policy === 'manual') return interactions;
      return { ...interactions, policy: interactionPolicyWithChecks(interactions?.policy) };
    },
    viewModel,
    logos,
    useAdapter(adapter) {
      if (options.adapter) return;
      approvals.use(adapterSource(adapter));
    },
  };
}

export type { ClientChange, SecurityParts } from './fingerprint.js';
export { canonicalJson, diffParts, fingerprint, securityParts } from './fingerprint.js';
export {
  type LogoOptions,
  type LogoOutcome,
  LogoProxy,
  type LogoResponse,
  type LogoType,
  sniffImageType,
} from './logo.js';
export { type ConsentPageOptions, escapeHtml, type RenderedConsentPage, renderConsentPage } from './render.js';
export { FINGERPRINT_FIELD, SHOWN_DOCUMENT_DETAIL } from './shown.js';
export type {
  ConsentResource,
  ConsentViewModel,
  ConsentWarning,
  ConsentWarningId,
  NewClientSignal,
  SuppliedText,
} from './view-model.js';
