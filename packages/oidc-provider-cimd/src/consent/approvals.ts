/**
 * What a user approved (docs/consent.md "What is remembered, and where"): per oidc-provider grant, the
 * fingerprint of the security-relevant parts of the client's document at the moment the user said yes.
 *
 * The records are kept with the deployment's own persistence — its oidc-provider adapter, as the model
 * `CimdConsent`, keyed by the grant's id — never in the plugin's document cache, whose entries any
 * unauthenticated caller can push out by presenting enough client ids. A record lives as long as its grant (or
 * the configured record lifetime when the grant has none).
 *
 * The rule that makes this fail closed is the caller's: a grant whose record cannot be read (missing, unreadable,
 * for another account or client, or the adapter did not answer in time) counts as "not approved in its current
 * form", and the user is asked again.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { LocalRedirectKind } from '../rules/redirect-uris.js';
import { isSecurityParts, type SecurityParts } from './fingerprint.js';

/** The oidc-provider model name the records are stored under. */
export const APPROVAL_MODEL = 'CimdConsent';

export interface ApprovalRecord {
  v: 1;
  accountId: string;
  clientId: string;
  fingerprint: string;
  parts: SecurityParts;
  /**
   * Set when the approval was given for a redirect to a program on the user's device: a loopback or a
   * private-use scheme redirect (RFC 8252 §7.1, §7.3), whose consent page carried the warning. Only such an
   * approval satisfies `consent.loopback: 'once'` for that kind of redirect; a record without it never does.
   */
  localRedirect?: LocalRedirectKind;
  /** ms since the epoch. */
  approvedAt: number;
}

/**
 * `found`: the record of this grant; `missing`: the adapter answered and has none (or a record that is not
 * ours, for another account or client); `unavailable`: the adapter failed or did not answer in time.
 */
export type ApprovalRead = { status: 'found'; record: ApprovalRecord } | { status: 'missing' | 'unavailable' };

export type AdapterSource = (name: string) => Adapter;

function isApprovalRecord(value: unknown): value is ApprovalRecord {
  const record = value as Partial<ApprovalRecord> | null | undefined;
  return (
    record !== null &&
    typeof record === 'object' &&
    record.v === 1 &&
    typeof record.accountId === 'string' &&
    typeof record.clientId === 'string' &&
    typeof record.fingerprint === 'string' &&
    typeof record.approvedAt === 'number' &&
    (record.localRedirect === undefined ||
      record.localRedirect === 'loopback' ||
      record.localRedirect === 'private-use') &&
    isSecurityParts(record.parts)
  );
}

function deadline<T>(work: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      (value) => ({ ok: true as const, value }),
      () => ({ ok: false as const }),
    ),
    new Promise<{ ok: false }>((resolve) => {
      timer = setTimeout(resolve, ms, { ok: false });
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface ApprovalsOptions {
  now: () => number;
  /** Lifetime of a record whose grant has no expiry, ms. */
  ttlMs: number;
  /** How long one adapter call may take before it counts as unavailable, ms. */
  timeoutMs: number;
}

export class Approvals {
  readonly #o: ApprovalsOptions;
  #adapter: Adapter | undefined;

  constructor(options: ApprovalsOptions) {
    this.#o = options;
  }

  /** Where the records live: called by `configure()` with the provider's adapter (or the one consent names). */
  use(source: AdapterSource): void {
    this.#adapter = source(APPROVAL_MODEL);
  }

  get ready(): boolean {
    return this.#adapter !== undefined;
  }

  async read(grantId: string, accountId: string, clientId: string): Promise<ApprovalRead> {
    const adapter = this.#adapter;
    if (!adapter) return { status: 'unavailable' };
    const answer = await deadline(
      Promise.resolve().then(() => adapter.find(grantId)),
      this.#o.timeoutMs,
    );
    if (!answer.ok) return { status: 'unavailable' };
    const value: unknown = answer.value;
    if (!isApprovalRecord(value) || value.accountId !== accountId || value.clientId !== clientId) {
      return { status: 'missing' };
    }
    return { status: 'found', record: value };
  }

  /**
   * Remembers that the user approved the client in this form under `grantId`. Resolves false when the adapter
   * did not confirm the write: the next authorization then asks again.
   *
   * @param grantExpiresAt the grant's `exp` (seconds since the epoch), when it has one
   */
  async write(
    grantId: string,
    record: Omit<ApprovalRecord, 'v' | 'approvedAt'>,
    grantExpiresAt: number | undefined,
  ): Promise<boolean> {
    const adapter = this.#adapter;
    if (!adapter) return false;
    const now = this.#o.now();
    const expiresIn =
      typeof grantExpiresAt === 'number' && grantExpiresAt * 1000 > now
        ? Math.ceil(grantExpiresAt - now / 1000)
        : Math.ceil(this.#o.ttlMs / 1000);
    const payload: ApprovalRecord = { v: 1, ...record, approvedAt: now };
    const answer = await deadline(
      Promise.resolve().then(() => adapter.upsert(grantId, payload as unknown as AdapterPayload, expiresIn)),
      this.#o.timeoutMs,
    );
    return answer.ok;
  }
}
