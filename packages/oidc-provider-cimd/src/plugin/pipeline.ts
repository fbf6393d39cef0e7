/**
 * The composition root: from the resolved options, the parts of the pipeline that the server (`createCimd`)
 * and `cimd check` (`checkClientId`, `checkDocument`) both need. Both build them here, so the guarded fetcher,
 * the URL rules, the document-rule options, the lifetime bounds and the capabilities cannot differ between
 * what the server does and what `check` reports.
 */
import { LRUCache } from 'lru-cache';
import type { FetchBudget } from '../fetch/budget.js';
import { createFetcher, type Fetcher } from '../fetch/fetcher.js';
import { FETCH_STEPS, type FetchStep } from '../fetch/steps.js';
import { createAddressPolicy } from '../rules/address-policy.js';
import { createUrlRules, type UrlVerdict } from '../rules/client-id-url.js';
import { type DocumentRuleOptions, grantsWithoutUserPolicy } from '../rules/document.js';
import { DEFAULT_LIFETIME_BOUNDS, type LifetimeBounds } from '../rules/http-cache.js';
import { type CapabilityConfig, deriveCapabilities, type ProviderCapabilities } from './capabilities.js';
import type { ResolvedCimdOptions } from './options.js';

export interface Pipeline {
  /** The guarded fetcher: the address policy on every address dialled, the timeouts, the caps. */
  readonly fetcher: Fetcher;
  /** The ordered fetch steps the fetcher applies (fetch/steps.ts). */
  readonly fetchSteps: readonly FetchStep[];
  /**
   * The client_id URL rules for an issuer, compiled once per issuer; accepted ids are remembered (bounded like
   * the in-process tier), rejections are not.
   */
  urlRulesFor(issuer: string): (cid: string) => UrlVerdict;
  /** What the document rules are told beyond the capabilities. */
  readonly documentRules: DocumentRuleOptions;
  /** Lifetime bounds of a cached document. */
  readonly lifetime: LifetimeBounds;
  /** What a provider with this configuration supports, as the document rules need it. */
  capabilities(configuration?: CapabilityConfig): ProviderCapabilities;
}

export interface PipelineParts {
  /** The budget every fetch made on a client's behalf draws on (the server's; `check` has none). */
  budget?: FetchBudget;
  /** A fetcher to use instead of building one (e.g. `cimd.fetcher`, handed to `check`). */
  fetcher?: Fetcher;
  /** The development exception judged per request (fetch/fetcher.ts `loopbackAllowed`). */
  loopbackAllowed?: () => boolean;
}

export function buildPipeline(options: ResolvedCimdOptions, parts: PipelineParts = {}): Pipeline {
  const fetcher =
    parts.fetcher ??
    createFetcher({
      addressPolicy: createAddressPolicy({
        allowLoopback: options.allowLoopback,
        ...(options.denyList ? { denyList: options.denyList } : {}),
      }),
      ...(parts.budget ? { budget: parts.budget } : {}),
      ...(parts.loopbackAllowed ? { loopbackAllowed: parts.loopbackAllowed } : {}),
      dnsTimeoutMs: options.dnsTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      timeoutMs: options.timeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      acceptTextPlain: options.acceptTextPlain,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.lookup !== undefined ? { lookup: options.lookup } : {}),
    });

  let compiled: { issuer: string; rules: (cid: string) => UrlVerdict } | undefined;
  const urlRulesFor = (issuer: string) => {
    if (compiled?.issuer !== issuer) {
      const rules = createUrlRules({
        issuer,
        allowLoopback: options.allowLoopback,
        allowRootPath: options.allowRootPath,
        allowQuery: options.allowQuery,
        ...(options.allowedPorts !== undefined ? { allowedPorts: options.allowedPorts } : {}),
      });
      // The rules are pure for a given issuer, and run on every lookup, warm ones included: remembering the
      // accepted ids (bounded like the in-process tier, dropped with the issuer) keeps a warm lookup at a Map
      // read. Rejections are not remembered, so hostile ids cannot crowd out the clients in use.
      const accepted = new LRUCache<string, UrlVerdict>({ max: options.memoryCacheSize });
      compiled = {
        issuer,
        rules: (cid) => {
          const known = accepted.get(cid);
          if (known) return known;
          const verdict = rules(cid);
          if (verdict.ok) accepted.set(cid, verdict);
          return verdict;
        },
      };
    }
    return compiled.rules;
  };

  const documentRules: DocumentRuleOptions = Object.freeze({
    requireClientName: options.requireClientName,
    allowGrantWithoutUser: grantsWithoutUserPolicy(options.grantsWithoutUser ?? []),
  });
  const lifetime: LifetimeBounds = Object.freeze({ ...DEFAULT_LIFETIME_BOUNDS, ...options.lifetime });

  return {
    fetcher,
    fetchSteps: FETCH_STEPS,
    urlRulesFor,
    documentRules,
    lifetime,
    capabilities: (configuration = {}) =>
      deriveCapabilities(configuration, {
        ...(options.extraGrantTypes ? { extraGrantTypes: options.extraGrantTypes } : {}),
        ...(options.extraResponseModes ? { extraResponseModes: options.extraResponseModes } : {}),
      }),
  };
}
