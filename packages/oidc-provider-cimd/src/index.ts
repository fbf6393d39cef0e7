export { DEFAULT_DENY_LIST } from './address-policy.js';
export type { ProviderCapabilities } from './capabilities.js';
export {
  type CheckItem,
  type CheckOptions,
  type CheckReport,
  type CheckStage,
  type CheckStatus,
  type ClientSummary,
  capabilitiesFromServerMetadata,
  checkClientId,
  checkDocument,
  DEFAULT_CHECK_ISSUER,
  DEFAULT_LOOPBACK_CHECK_ISSUER,
  type ResponseSummary,
} from './check.js';
export type { Cimd, CimdOptions } from './cimd.js';
export { createCimd } from './cimd.js';
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
export type { CacheEntry } from './document-cache.js';
export type { ClientMetadata } from './document-rules.js';
export { CimdError, isCimdError, PUBLIC_RETRIEVAL_MESSAGE, Reason, type ReasonCode } from './errors.js';
export { type CacheTier, type CimdEvent, DIAGNOSTICS_CHANNEL, type EventListener } from './events.js';
export type { Fetcher } from './fetcher.js';
export type { LifetimeBounds } from './http-cache.js';
export { createRedisCache, type RedisCacheOptions } from './redis.js';
export type { CacheInspection } from './resolver.js';
