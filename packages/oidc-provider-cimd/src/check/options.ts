/**
 * The options of `check`: the server's own options table (plugin/options.ts) plus check's own, resolved and
 * built into the server's composition root (plugin/pipeline.ts).
 */
import type { Fetcher } from '../fetch/fetcher.js';
import { capabilitiesFromServerMetadata, type ProviderCapabilities } from '../plugin/capabilities.js';
import {
  CIMD_OPTIONS,
  type CimdOptions,
  type OptionRow,
  type OptionTable,
  resolveCimdOptions,
  validateOptions,
} from '../plugin/options.js';
import { buildPipeline, type Pipeline } from '../plugin/pipeline.js';
import type { UrlVerdict } from '../rules/client-id-url.js';
import type { LifetimeBounds } from '../rules/http-cache.js';

/**
 * `check` takes the server's own options (every option of `createCimd`: same names, types, defaults, startup
 * checks), so that it judges a client with the deployment's trust policy and development exception, plus its
 * own. Options of the running server's state (`cache`, `registry`, `onEvent`, ...) are accepted and unused:
 * `check` never touches the deployment's store.
 */
export interface CheckOptions extends CimdOptions {
  /**
   * The issuer of the provider that serves the requests, when it differs from `issuer` (the development
   * exception is refused while it is not loopback, as the server refuses it). Default: `issuer`.
   */
  providerIssuer?: string | undefined;
  /**
   * What the provider supports. Default: what `createCimd(...).configure({})` derives (oidc-provider 9's
   * defaults plus `extraGrantTypes` / `extraResponseModes`). From a server's metadata:
   * {@link capabilitiesFromServerMetadata}.
   */
  capabilities?: ProviderCapabilities;
  /** Also check whether this redirect URI would be accepted. */
  redirectUri?: string;
  /** A guarded fetcher to use (e.g. `cimd.fetcher`); default: one built by the plugin's pipeline, then closed. */
  fetcher?: Fetcher;
  /** Fetch and check the JWK Set at the document's `jwks_uri` (URL checks only). Default true. */
  jwks?: boolean;
  /** Called before long steps (the fetches). */
  onProgress?: (message: string) => void;
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
export const checkRow = <T>(expected: string, test: (value: unknown) => boolean): OptionRow<T> =>
  Object.freeze({ expected, test });

/** Every row of CIMD_OPTIONS, and the options of `check` itself. */
export const CHECK_OPTIONS: OptionTable = Object.freeze({
  ...CIMD_OPTIONS,
  providerIssuer: checkRow<string>('an absolute URL', (v) => typeof v === 'string' && URL.canParse(v)),
  capabilities: checkRow<ProviderCapabilities>(
    'capabilities (see capabilitiesFromServerMetadata)',
    (v) =>
      isObject(v) &&
      ['grantTypes', 'responseTypes', 'responseModes', 'scopes', 'clientAuthMethods'].every(
        (name) => v[name] instanceof Set,
      ),
  ),
  redirectUri: checkRow<string>('a string', (v) => typeof v === 'string'),
  fetcher: checkRow<Fetcher>('a guarded fetcher (cimd.fetcher)', (v) => isObject(v) && typeof v.get === 'function'),
  jwks: checkRow<boolean>('a boolean', (v) => typeof v === 'boolean'),
  onProgress: checkRow<(message: string) => void>('a function', (v) => typeof v === 'function'),
});
export const CHECK_DOCUMENT_OPTIONS: OptionTable = Object.freeze({
  ...CHECK_OPTIONS,
  clientId: checkRow<string>('a string', (v) => typeof v === 'string'),
});

/** A neutral issuer: no real client id is on its origin. */
export const DEFAULT_CHECK_ISSUER = 'https://authorization-server.invalid';
/** The issuer assumed with `allowLoopback` when none is given (the development exception needs a loopback one). */
export const DEFAULT_LOOPBACK_CHECK_ISSUER = 'http://localhost';

// ---------------------------------------------------------------------------------------------------------------
// Configuration: the server's own option table and composition root

export interface Resolved {
  issuer: string;
  pipeline: Pipeline;
  capabilities: ProviderCapabilities;
  lifetime: LifetimeBounds;
  urlRules: (cid: string) => UrlVerdict;
  allowLoopback: boolean;
  /** Fetch jwks_uri. */
  jwks: boolean;
  /** The fetcher's limits, for the fixes. */
  limits: { timeoutMs: number; connectTimeoutMs: number };
}

/** The options of `check` itself, not the server's. */
export const CHECK_ONLY_OPTIONS = new Set([
  'providerIssuer',
  'capabilities',
  'redirectUri',
  'fetcher',
  'jwks',
  'onProgress',
  'clientId',
]);

/** Validates the options as `createCimd` would; throws CimdOptionError (a TypeError) for options the server refuses. */
export function resolveOptions(options: CheckOptions, table: OptionTable): Resolved {
  validateOptions(options, table);
  const server: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && !CHECK_ONLY_OPTIONS.has(name)) server[name] = value;
  }
  const allowLoopback = options.allowLoopback === true;
  server.issuer = options.issuer ?? (allowLoopback ? DEFAULT_LOOPBACK_CHECK_ISSUER : DEFAULT_CHECK_ISSUER);
  const resolved = resolveCimdOptions(server);
  const issuer = resolved.issuer as string;
  const servingIssuer = options.providerIssuer ?? issuer;
  // The server's own composition root, without the parts only a running server has (store, lock, registry).
  const pipeline = buildPipeline(resolved, {
    servingIssuer: () => servingIssuer,
    fetcher: options.fetcher,
    stateful: false,
  });
  return {
    issuer,
    pipeline,
    capabilities: options.capabilities ?? pipeline.capabilities(),
    lifetime: pipeline.lifetime,
    urlRules: pipeline.urlRules,
    allowLoopback,
    jwks: options.jwks !== false,
    limits: { timeoutMs: resolved.timeoutMs, connectTimeoutMs: resolved.connectTimeoutMs },
  };
}
