export type { CacheEntry } from './cache/document-cache.js';
export type { SharedStore } from './cache/shared-store.js';
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
  CHANGED_DURING_CONSENT_CHECK,
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
  FINGERPRINT_FIELD,
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
export {
  buildConsentViewModel,
  type ConsentFacts,
  neutralizeText,
} from './consent/view-model.js';
export type { RuleId } from './core/catalogue.js';
export {
  CimdError,
  type CimdErrorDetails,
  isCimdError,
  type OperatorCommitCode,
  OperatorCommitError,
  PUBLIC_RETRIEVAL_MESSAGE,
  Reason,
  type ReasonCode,
  StoreState,
} from './core/errors.js';
export type { Fetcher } from './fetch/fetcher.js';
export { type CacheTier, type CimdEvent, DIAGNOSTICS_CHANNEL, type EventListener } from './observe/events.js';
export {
  type CimdHealth,
  type CimdHealthOptions,
  cimdHealth,
  type HealthReport,
  type StoreChange,
  type StoreHealth,
  type WatchStoreOptions,
  watchStore,
} from './observe/health.js';
export type { RegisteredClient, RegistryOptions } from './observe/registry.js';
export type { ProviderCapabilities } from './plugin/capabilities.js';
export { CLIENT_AUTHENTICATION_TYP, type ClientAssertionTypMode } from './plugin/client-assertion.js';
export type { Cimd, CimdOptions } from './plugin/create.js';
export { createCimd } from './plugin/create.js';
export {
  type Denial,
  type DenialKind,
  type DenialPageOptions,
  describeDenial,
  renderDenialPage,
} from './plugin/denial.js';
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
export {
  type AdviceProblem,
  type AdviceProblemId,
  adviseClient,
  adviseClients,
  type ClientAdvice,
  knownClientFor,
} from './rules/client-advice.js';
export type { ClientMetadata } from './rules/document.js';
export type { LifetimeBounds } from './rules/http-cache.js';
export {
  type ClientBehaviour,
  type IdChoice,
  KNOWN_CLIENTS_TOKEN,
  type KnownClient,
  knownClientPatterns,
  knownClients,
  type SourcedFact,
} from './rules/known-clients.js';
export {
  type AdmissionMode,
  type ClientPattern,
  compilePatterns,
  type PolicyDecision,
  type PolicyVerdict,
  type TrustPolicyOptions,
} from './rules/trust.js';
