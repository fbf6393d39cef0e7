/**
 * Entries are judged by today's rules (docs/caching.md): a cached entry is served only if it is valid
 * under the rules in force where it is served. Each entry carries the fingerprint of the rules that judged it;
 * an entry judged under other rules (another instance's, an older release's) is validated again from the stored
 * document, without fetching, before it is served, and on every 304.
 *
 * The fingerprint covers everything that decides what a document becomes: the document rules and their
 * options, the provider's capabilities, `grantsWithoutUser`, and the rule-set version of this package. The
 * trust policy is not in it because it is consulted on every lookup before the cache.
 */
import { createHash } from 'node:crypto';
import type { CacheEntry } from '../core/entry.js';
import { CimdError, isCimdError, Reason } from '../core/errors.js';
import {
  type DocumentRuleOptions,
  type GrantWithoutUserRule,
  type ProviderCapabilities,
  validateDocument,
} from '../rules/document.js';

/**
 * Version of the document rules as this package applies them. Raise it with any change to rules/document.ts
 * that can change what a document is accepted as: every entry stored before is then judged again on first read.
 */
export const RULESET_VERSION = 3;

export interface RuleInputs {
  capabilities: ProviderCapabilities;
  documentRules: DocumentRuleOptions;
  /** The `grantsWithoutUser` option as given (the compiled function in `documentRules` cannot be compared). */
  grantsWithoutUser: readonly GrantWithoutUserRule[];
}

const sorted = (set: ReadonlySet<string>) => [...set].sort();

/** A short, stable digest of the rules: equal rules give equal fingerprints, in any process. */
export function rulesFingerprint(inputs: RuleInputs): string {
  const c = inputs.capabilities;
  const canonical = JSON.stringify({
    ruleset: RULESET_VERSION,
    capabilities: {
      grantTypes: sorted(c.grantTypes),
      responseTypes: sorted(c.responseTypes),
      responseModes: sorted(c.responseModes),
      scopes: sorted(c.scopes),
      clientAuthMethods: sorted(c.clientAuthMethods),
    },
    requireClientName: inputs.documentRules.requireClientName ?? true,
    grantsWithoutUser: inputs.grantsWithoutUser.map((rule) => ({
      clients: [...rule.clients].map(String).sort(),
      grants: [...rule.grants].sort(),
    })),
  });
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

export type Judged = { ok: true; entry: CacheEntry; changed: boolean } | { ok: false; error: CimdError };

export class Judge {
  readonly fingerprint: string;
  /** The rules themselves, for validating fetched documents under the same rules the fingerprint names. */
  readonly inputs: RuleInputs;
  readonly #inputs: RuleInputs;

  constructor(inputs: RuleInputs) {
    this.inputs = inputs;
    this.#inputs = inputs;
    this.fingerprint = rulesFingerprint(inputs);
  }

  /** Whether `entry` was judged under these very rules (a string comparison: the warm path pays nothing more). */
  isCurrent(entry: CacheEntry): boolean {
    return entry.rules === this.fingerprint;
  }

  /**
   * The entry as today's rules make it: unchanged when it was judged under them, else validated again from the
   * stored document (an entry of an earlier release has none: its stored metadata is validated instead, which
   * is never more permissive than the document it came from). Nothing is fetched.
   */
  judge(entry: CacheEntry): Judged {
    if (this.isCurrent(entry)) return { ok: true, entry, changed: false };
    const body = entry.document ?? JSON.stringify(entry.metadata);
    try {
      const validated = validateDocument(body, entry.cid, this.#inputs.capabilities, this.#inputs.documentRules);
      return {
        ok: true,
        changed: true,
        entry: {
          ...entry,
          metadata: validated.metadata,
          loopbackOnly: validated.loopbackOnly,
          rules: this.fingerprint,
        },
      };
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedDocument, String(cause), { cause });
      return { ok: false, error };
    }
  }
}
