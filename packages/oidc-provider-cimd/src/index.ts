export type { CacheEntry } from './cache/document-cache.js';
export { STORE_LIMIT_WARNING } from './cluster/limits.js';
export {
  createRedisCache,
  describeRedisCache,
  type RedisCacheOptions,
  type RedisTopology,
  redisOptionsFromEnv,
  type StoreLimit,
} from './cluster/redis.js';
export {
  CHANGED_CHECK,
  type ClientChange,
  type ConsentClient,
  type ConsentInteraction,
  type ConsentOptions,
  type ConsentPageOptions,
  type ConsentResource,
  type ConsentViewModel,
  type ConsentViewModelInput,
  type ConsentWarning,
  type ConsentWarningId,
  type DefaultInteractionPolicy,
  escapeHtml,
  type InteractionPolicy,
  LOOPBACK_CHECK,
  type LogoOptions,
  type LogoResponse,
  type LogoType,
  type NewClientSignal,
  type RenderedConsentPage,
  renderConsentPage,
  type SuppliedText,
  sniffImageType,
} from './consent/index.js';
/** Neutralises control, C1, escape and bidi characters in client-supplied text (consent page and `cimd` CLI). */
export { neutralizeText } from './consent/view-model.js';
export type { Fetcher } from './fetch/fetcher.js';
export {
  CimdError,
  type CimdErrorDetails,
  isCimdError,
  PUBLIC_RETRIEVAL_MESSAGE,
  Reason,
  type ReasonCode,
} from './observe/errors.js';
export { type CacheTier, type CimdEvent, DIAGNOSTICS_CHANNEL, type EventListener } from './observe/events.js';
export type { RegisteredClient, RegistryOptions } from './observe/registry.js';
export type { ProviderCapabilities } from './plugin/capabilities.js';
export { CLIENT_AUTHENTICATION_TYP, type ClientAssertionTypMode } from './plugin/client-assertion.js';
export type { Cimd, CimdOptions } from './plugin/create.js';
export { createCimd } from './plugin/create.js';
export {
  CIMD_CONDITIONAL_CLIENTS,
  type DiscoveryCheckMode,
  type DiscoveryProblem,
  type DiscoveryProblemId,
  type DiscoveryReport,
} from './plugin/discovery-check.js';
export { type CimdConfigErrorCode, CimdOptionError } from './plugin/options.js';
export type { CacheInspection } from './resolve/resolver.js';
export { DEFAULT_DENY_LIST } from './rules/address-policy.js';
export type { RuleId } from './rules/catalogue.js';
export type { ClientMetadata } from './rules/document.js';
export type { LifetimeBounds } from './rules/http-cache.js';
export { KNOWN_CLIENTS_TOKEN, type KnownClient, knownClientPatterns, knownClients } from './rules/known-clients.js';
export {
  type AdmissionMode,
  type ClientPattern,
  compilePatterns,
  type PolicyDecision,
  type PolicyVerdict,
  type TrustPolicyOptions,
} from './rules/trust.js';
