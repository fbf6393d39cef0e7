/**
 * The provider's capabilities (`ProviderCapabilities`, defined with the document rules that use them), derived
 * once from the configuration handed to `configure()`, following oidc-provider 9's documented defaults.
 */
import type { ProviderCapabilities } from '../rules/document.js';

export type { ProviderCapabilities };

const DEFAULT_RESPONSE_TYPES = ['code id_token', 'code', 'id_token', 'none'];
const DEFAULT_SCOPES = ['openid', 'offline_access'];
const DEFAULT_CLIENT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_jwt',
  'client_secret_post',
  'private_key_jwt',
  'none',
];
const BASE_RESPONSE_MODES = ['query', 'fragment', 'form_post'];
const JWT_RESPONSE_MODES = ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt'];

type Feature = { enabled?: boolean; preAuthorizedCodeGrant?: boolean } | undefined;

/** The part of an oidc-provider configuration that decides client capabilities. */
export interface CapabilityConfig {
  responseTypes?: readonly string[];
  scopes?: readonly string[] | ReadonlySet<string>;
  claims?: Record<string, unknown>;
  clientAuthMethods?: readonly string[] | ReadonlySet<string>;
  issueRefreshToken?: unknown;
  features?: Record<string, Feature>;
}

export interface CapabilityExtras {
  /** Grant types added after construction with `provider.registerGrantType()`. */
  extraGrantTypes?: readonly string[];
  /** Response modes added with `provider.registerResponseMode()`. */
  extraResponseModes?: readonly string[];
}

export const normaliseResponseType = (value: string): string => [...new Set(value.split(' '))].sort().join(' ');

/**
 * Mirrors how oidc-provider 9 derives what it supports from its configuration (response types → grant
 * types, feature flags → extra grants, claims → scopes). Values registered at runtime cannot be seen from the
 * configuration, so a deployment names them in `extras`.
 */
export function deriveCapabilities(config: CapabilityConfig, extras: CapabilityExtras = {}): ProviderCapabilities {
  const features = config.features ?? {};
  const responseTypes = new Set((config.responseTypes ?? DEFAULT_RESPONSE_TYPES).map(normaliseResponseType));

  const scopes = new Set(config.scopes ?? DEFAULT_SCOPES);
  for (const [name, value] of Object.entries(config.claims ?? {})) {
    if (value !== null && typeof value === 'object') scopes.add(name);
  }

  const grantTypes = new Set<string>();
  for (const type of responseTypes) {
    if (type.includes('token')) grantTypes.add('implicit');
    if (type.includes('code')) grantTypes.add('authorization_code');
  }
  if (scopes.has('offline_access') || config.issueRefreshToken !== undefined) grantTypes.add('refresh_token');
  if (features.clientCredentials?.enabled) grantTypes.add('client_credentials');
  if (features.deviceFlow?.enabled) grantTypes.add('urn:ietf:params:oauth:grant-type:device_code');
  if (features.ciba?.enabled) grantTypes.add('urn:openid:params:grant-type:ciba');
  if (features.openid4vci?.enabled && features.openid4vci.preAuthorizedCodeGrant) {
    grantTypes.add('urn:ietf:params:oauth:grant-type:pre-authorized_code');
  }
  for (const grant of extras.extraGrantTypes ?? []) grantTypes.add(grant);

  const responseModes = new Set(BASE_RESPONSE_MODES);
  if (features.jwtResponseModes?.enabled) for (const mode of JWT_RESPONSE_MODES) responseModes.add(mode);
  for (const mode of extras.extraResponseModes ?? []) responseModes.add(mode);

  return {
    grantTypes,
    responseTypes,
    responseModes,
    scopes,
    clientAuthMethods: new Set(config.clientAuthMethods ?? DEFAULT_CLIENT_AUTH_METHODS),
  };
}

/** The part of a provider configuration that an authorization server's metadata reveals. */
export interface ServerMetadataCapabilities {
  configuration: Pick<CapabilityConfig, 'responseTypes' | 'scopes' | 'clientAuthMethods'>;
  extras: CapabilityExtras;
}

/**
 * What an authorization server's metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3) says it supports, as
 * the configuration and extras that `configure()` and {@link deriveCapabilities} take. A member the metadata
 * leaves out keeps oidc-provider's default. `cimd check --server-metadata` and the operator commands (`cimd pin`,
 * `cimd refresh`) both derive the provider's capabilities through this one function, so they judge a document
 * alike.
 */
export function serverMetadataCapabilities(metadata: Readonly<Record<string, unknown>>): ServerMetadataCapabilities {
  const strings = (name: string): string[] | undefined => {
    const value = metadata[name];
    return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : undefined;
  };
  const responseTypes = strings('response_types_supported');
  const scopes = strings('scopes_supported');
  const clientAuthMethods = strings('token_endpoint_auth_methods_supported');
  const grants = strings('grant_types_supported');
  const modes = strings('response_modes_supported');
  return {
    configuration: {
      ...(responseTypes ? { responseTypes } : {}),
      ...(scopes ? { scopes } : {}),
      ...(clientAuthMethods ? { clientAuthMethods } : {}),
    },
    extras: { ...(grants ? { extraGrantTypes: grants } : {}), ...(modes ? { extraResponseModes: modes } : {}) },
  };
}

/** The capabilities of the server whose metadata this is (see {@link serverMetadataCapabilities}). */
export function capabilitiesFromServerMetadata(metadata: Readonly<Record<string, unknown>>): ProviderCapabilities {
  const { configuration, extras } = serverMetadataCapabilities(metadata);
  return deriveCapabilities(configuration, extras);
}
