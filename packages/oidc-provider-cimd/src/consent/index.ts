/**
 * Consent (spec §6): the interaction-policy checks, the signals they and the view model share (first seen,
 * users who granted, the fingerprint of the last approved document), and the logo proxy. Created by
 * `createCimd`, which exposes it on the plugin object.
 */
import type Keyv from 'keyv';
import { type Configuration, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { SharedGuard } from '../cache/shared-guard.js';
import type { Fetcher } from '../fetch/fetcher.js';
import type { CacheInspection } from '../resolve/resolver.js';
import { isLoopbackOnly } from '../rules/redirect-uris.js';
import { type ClientPattern, compilePatterns } from '../rules/trust.js';
import { type ClientChange, diffParts, fingerprint, type SecurityParts, securityParts } from './fingerprint.js';
import { type LogoOptions, LogoProxy } from './logo.js';
import { ConsentRecords, type GrantRecord, type Read } from './records.js';
import { buildConsentViewModel, type ConsentViewModel, type NewClientSignal } from './view-model.js';

export interface ConsentOptions {
  /**
   * `'auto'` (default): `configure()` adds the plugin's checks to the consent prompt of
   * `interactions.policy` (oidc-provider's base policy when the configuration has none). `'manual'`: it
   * leaves the policy alone, and the deployment calls `cimd.interactionPolicy(policy)` itself.
   */
  policy?: 'auto' | 'manual';
  /**
   * Clients whose redirect URIs are all loopback: `'always'` (default) asks for consent on every
   * authorization, even with an existing grant; `'once'` asks until this user has approved the client (its
   * current document) once through this plugin.
   */
  loopback?: 'always' | 'once';
  /** Client id patterns (exact ids, `host`, `*.host`) that never get the new-client notice (the loopback warning stays). */
  trusted?: readonly ClientPattern[];
  /**
   * New-client signal (draft §8.9): a CIMD client is "new" while this server first saw it less than
   * `minAgeMs` ago (default 7 days) OR fewer than `minUsers` users granted it (default 5). `false`: off.
   */
  newClient?: false | { minAgeMs?: number; minUsers?: number };
  /**
   * Changed-client signal (draft §8.4): remember, per user and client, a fingerprint of the redirect URIs,
   * auth method and keys the user approved; ask again when they change. Default true.
   */
  changedClient?: boolean;
  /** Logo proxy options; `false`: never show logos. */
  logo?: false | LogoOptions;
  /** How long first-seen and grant records are kept after their last write, ms. Default 400 days. */
  recordTtlMs?: number;
}

/** The parts of oidc-provider's `interactionDetails()` result the view model reads. */
export interface ConsentInteraction {
  uid: string;
  params: Readonly<Record<string, unknown>>;
  prompt: { name: string; reasons?: readonly string[]; details?: Readonly<Record<string, unknown>> };
  session?: { accountId: string } | undefined;
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

export interface ConsentDependencies {
  options: ConsentOptions;
  store: Keyv;
  guard: SharedGuard;
  fetcher: Fetcher;
  now: () => number;
  /** The plugin's cached entry for a client id, when it is a CIMD client (no fetch, no event). */
  inspect: (cid: string) => Promise<CacheInspection | undefined>;
}

/** oidc-provider's interaction policy (`interactionPolicy.base()` and what a deployment makes of it). */
export type InteractionPolicy = readonly interactionPolicy.Prompt[];
/** What `interactionPolicy.base()` returns. */
export type DefaultInteractionPolicy = interactionPolicy.DefaultPolicy;

interface Evaluation {
  loopbackOnly: boolean;
  consented: boolean;
  changes: ClientChange[];
  /** This user approved this client through the plugin before (any version of its document). */
  approvedBefore: boolean;
}

const DAY = 24 * 60 * 60 * 1000;

export interface Consent {
  interactionPolicy<P extends InteractionPolicy = interactionPolicy.DefaultPolicy>(policy?: P): P;
  composeInteractions(interactions: Configuration['interactions']): Configuration['interactions'];
  viewModel(input: ConsentViewModelInput): Promise<ConsentViewModel>;
  readonly logos: LogoProxy | undefined;
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
  const loopbackMode = options.loopback ?? 'always';
  if (loopbackMode !== 'always' && loopbackMode !== 'once') {
    throw new TypeError(
      `oidc-provider-cimd: consent.loopback must be 'always' or 'once', got ${JSON.stringify(loopbackMode)}`,
    );
  }
  const newClient = options.newClient === false ? undefined : { minAgeMs: 7 * DAY, minUsers: 5, ...options.newClient };
  const changedClient = options.changedClient !== false;
  const isTrusted = compilePatterns(options.trusted ?? []);
  const records = new ConsentRecords({
    store: deps.store,
    guard: deps.guard,
    now,
    ttlMs: options.recordTtlMs ?? 400 * DAY,
    maxUsers: Math.max(1, newClient?.minUsers ?? 1),
  });
  const logos =
    options.logo === false
      ? undefined
      : new LogoProxy({ ...options.logo, fetcher: deps.fetcher, store: deps.store, guard: deps.guard, now });

  const trusted = (cid: string) => {
    const url = URL.parse(cid);
    return url !== null && isTrusted(cid, url);
  };

  /** The CIMD entry of a client id, or undefined for other clients. Never throws. */
  const cimdEntry = async (cid: string) => {
    if (!cid.startsWith('https://')) return undefined;
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

  // Both checks of one authorization request share one evaluation.
  const evaluations = new WeakMap<object, Promise<Evaluation>>();

  async function evaluate(ctx: KoaContextWithOIDC): Promise<Evaluation> {
    const { oidc } = ctx;
    const client = oidc.client!;
    const cid = client.clientId;
    const accountId = oidc.session?.accountId;
    const consented = Boolean(oidc.result?.consent);
    const metadata = client.metadata() as Record<string, unknown>;
    const parts = securityParts(metadata);
    const print = fingerprint(parts);
    const loopbackOnly = isLoopbackOnly(client.redirectUris ?? []);

    const [entry, grant] = await Promise.all([
      cimdEntry(cid),
      accountId && (changedClient || loopbackMode === 'once')
        ? records.grant(accountId, cid)
        : Promise.resolve<Read<GrantRecord>>({ ok: false }),
    ]);
    // Fire and forget: the consent page waits for it (briefly) when it renders.
    startLogo(cid, metadata, entry)?.catch(() => {});

    if (consented && accountId) {
      // The user approved in this very interaction: remember what they approved, and count them.
      await Promise.all([
        records.putGrant(accountId, cid, parts, print),
        entry && newClient ? records.addUser(cid, accountId) : undefined,
      ]);
    } else if (entry && newClient) {
      await records.noteSeen(cid);
    }

    const stored = grant.ok ? grant.value : undefined;
    const changes = changedClient && stored && stored.fingerprint !== print ? diffParts(stored.parts, parts) : [];
    return { loopbackOnly, consented, changes, approvedBefore: stored !== undefined };
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
    'clients whose redirect URIs are all loopback require consent on every authorization',
    'consent_required',
    async (ctx) => {
      if (!ctx.oidc.client) return false;
      const result = await evaluation(ctx);
      if (!result.loopbackOnly || result.consented) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      if (loopbackMode === 'always') return interactionPolicy.Check.REQUEST_PROMPT;
      return !result.approvedBefore || result.changes.length > 0;
    },
    () => ({ loopbackOnly: true }),
  );

  const changedCheck = new interactionPolicy.Check(
    CHANGED_CHECK,
    "the client's redirect URIs, keys or authentication method changed since the user's last grant",
    'consent_required',
    async (ctx) => {
      if (!changedClient || !ctx.oidc.client) return false;
      const result = await evaluation(ctx);
      return !result.consented && result.changes.length > 0;
    },
    async (ctx) => ({ clientChanges: (await evaluation(ctx)).changes }),
  );

  function interactionPolicyWithChecks<P extends InteractionPolicy = interactionPolicy.DefaultPolicy>(policy?: P): P {
    const target = (policy ?? interactionPolicy.base()) as P;
    const consent = target.find((prompt) => prompt.name === 'consent');
    if (!consent) {
      throw new TypeError(
        "oidc-provider-cimd: the interaction policy has no 'consent' prompt, so the consent rule for loopback-only clients cannot be added; add one, or set consent.policy to 'manual' and enforce it yourself",
      );
    }
    // First, so that prompt=none reports consent_required (the first failing check names the error), and
    // ahead of oidc-provider's own native_client_prompt (interaction_required).
    const ours = [loopbackCheck, changedCheck].filter(
      (check) => !consent.checks.some((existing) => existing.reason === check.reason),
    );
    consent.checks.splice(0, 0, ...ours);
    return target;
  }

  async function viewModel(input: ConsentViewModelInput): Promise<ConsentViewModel> {
    const { interaction } = input;
    const { clientId, metadata } = metadataOf(input.client);
    if (interaction.params.client_id !== undefined && interaction.params.client_id !== clientId) {
      throw new TypeError('oidc-provider-cimd: the client is not the one of this interaction');
    }
    const accountId = interaction.session?.accountId;
    const entry = await cimdEntry(clientId);
    const isTrustedClient = entry !== undefined && trusted(clientId);
    const parts: SecurityParts = securityParts(metadata);

    const [logo, clientRead, grantRead] = await Promise.all([
      logos
        ? withDeadline(startLogo(clientId, metadata, entry) ?? Promise.resolve(undefined), logos.waitMs, undefined)
        : undefined,
      entry && newClient && !isTrustedClient ? records.client(clientId) : undefined,
      accountId && changedClient ? records.grant(accountId, clientId) : undefined,
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
    const stored = grantRead?.ok ? grantRead.value : undefined;
    const changes = stored && stored.fingerprint !== fingerprint(parts) ? diffParts(stored.parts, parts) : undefined;

    return buildConsentViewModel({
      uid: interaction.uid,
      params: interaction.params,
      promptDetails: interaction.prompt.details ?? {},
      accountId,
      clientId,
      metadata,
      isMetadataDocumentClient: entry !== undefined,
      logoUrl: logo?.ok ? logo.url : undefined,
      trusted: isTrustedClient,
      newClient: newSignal,
      changes,
      now: now(),
    });
  }

  return {
    interactionPolicy: interactionPolicyWithChecks,
    composeInteractions(interactions) {
      if (options.policy === 'manual') return interactions;
      return { ...interactions, policy: interactionPolicyWithChecks(interactions?.policy) };
    },
    viewModel,
    logos,
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
export type {
  ConsentResource,
  ConsentViewModel,
  ConsentWarning,
  ConsentWarningId,
  NewClientSignal,
  SuppliedText,
} from './view-model.js';
