/**
 * Explicit typing of client-authentication JWTs (private_key_jwt) of CIMD clients.
 *
 * SPEC.clientAuthentication (Client Authentication) recommends that CIMD clients that
 * authenticate with a JWT type it explicitly, `typ: oauth-client-auth+jwt`, so that a JWT minted for another
 * purpose cannot be replayed as a client assertion; draft-ietf-oauth-rfc7523bis §4 registers the media type
 * `client-authentication+jwt` for the same purpose. Both spellings are the explicit type, in every mode.
 * Deployed clients may not send either yet (ChatGPT sends the generic `JWT`), so by default an assertion without
 * `typ` (or with the generic `JWT`) is accepted and reported with the reason code `client_assertion_untyped`;
 * `clientAssertionTyp: 'require'` refuses it. A JWT explicitly typed for something else (`dpop+jwt`, `at+jwt`, …)
 * is refused in every mode: that is the confusion the type prevents.
 *
 * The hook is oidc-provider's own `assertJwtClientAuthClaimsAndHeader` (present since 9.0.0), which the provider
 * calls with the verified header after the signature check of every JWT client authentication, at every endpoint
 * that authenticates clients. The deployment's own hook (or the equivalent of oidc-provider's default one) still
 * runs after ours.
 */
import type { Configuration } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { Reason } from '../core/errors.js';
import type { Emit } from '../observe/events.js';
import { SPEC } from '../spec.js';

export type ClientAssertionTypMode = 'accept' | 'require';

/** The explicit type registered by draft-ietf-oauth-rfc7523bis §4 (the `application/` prefix may be left out, RFC 7515 §4.1.9). */
export const CLIENT_AUTHENTICATION_TYP = 'client-authentication+jwt';
/** The explicit type SPEC.clientAuthentication recommends. */
export const OAUTH_CLIENT_AUTH_TYP = 'oauth-client-auth+jwt';
/** Every spelling of the explicit type, lower case, without `application/`. */
export const EXPLICIT_CLIENT_ASSERTION_TYPS: readonly string[] = Object.freeze([
  CLIENT_AUTHENTICATION_TYP,
  OAUTH_CLIENT_AUTH_TYP,
]);

type AssertHook = NonNullable<Configuration['assertJwtClientAuthClaimsAndHeader']>;

/**
 * What oidc-provider 9 does when a deployment configures no hook (its `defaults.assertJwtClientAuthClaimsAndHeader`,
 * unchanged from 9.0.0 to 9.13): under FAPI 2.0 the audience must be the issuer. Reproduced here through the public
 * API rather than imported from the package's internal files, which carry no compatibility promise.
 */
const providerDefault: AssertHook = async (ctx, claims) => {
  const oidc = ctx.oidc as unknown as { isFapi(...profiles: string[]): boolean; issuer: string };
  if (oidc.isFapi('2.0') && claims.aud !== oidc.issuer) {
    throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
  }
};

/**
 * What a `typ` header says: the explicit client-authentication type, no type at all, or another type.
 *
 * SPEC.clientAuthentication recommends `typ: oauth-client-auth+jwt` for client
 * authentication JWTs; draft-ietf-oauth-rfc7523bis §4 registers `client-authentication+jwt`. Both are explicit
 * (media type names are case-insensitive, and `application/` may be left out, RFC 7515 §4.1.9).
 */
export function classifyTyp(typ: unknown): 'explicit' | 'untyped' | 'other' {
  if (typ === undefined) return 'untyped';
  if (typeof typ !== 'string') return 'other';
  const normalised = typ.toLowerCase().replace(/^application\//, '');
  if (EXPLICIT_CLIENT_ASSERTION_TYPS.includes(normalised)) return 'explicit';
  // `JWT` is the generic type many libraries set by default: it says nothing about the purpose.
  if (normalised === 'jwt') return 'untyped';
  return 'other';
}

/** Validated by the options table (plugin/options.ts, `clientAssertionTyp`); nothing is checked here. */
export interface ClientAssertionTypOptions {
  mode: ClientAssertionTypMode;
  /** True for the ids of CIMD clients (not static or stored clients). */
  isCimdClient: (clientId: string) => boolean;
  emit: Emit;
  /** The deployment's own hook; default: the equivalent of oidc-provider's. */
  next: AssertHook | undefined;
}

export function createClientAssertionCheck(options: ClientAssertionTypOptions): AssertHook {
  const { mode, isCimdClient, emit } = options;
  const next: AssertHook = options.next ?? providerDefault;
  return async function assertJwtClientAuthClaimsAndHeader(ctx, claims, header, client) {
    const clientId = client.clientId;
    if (isCimdClient(clientId)) {
      const started = emit.start();
      const kind = classifyTyp(header.typ);
      if (kind === 'other' || (kind === 'untyped' && mode === 'require')) {
        const detail =
          header.typ === undefined
            ? 'client assertion JWT has no typ header'
            : `client assertion JWT has typ ${JSON.stringify(header.typ)}`;
        emit(Reason.RejectedClientAssertionTyp, clientId, started, 'none', { detail });
        throw new errors.InvalidClientAuth(
          `${detail}; CIMD clients must type it "${OAUTH_CLIENT_AUTH_TYP}" or "${CLIENT_AUTHENTICATION_TYP}" (${SPEC.clientAuthentication})`,
        );
      }
      if (kind === 'untyped') {
        emit(Reason.ClientAssertionUntyped, clientId, started, 'none', {
          detail:
            header.typ === undefined
              ? 'client assertion JWT without typ accepted'
              : `client assertion JWT with the generic typ ${JSON.stringify(header.typ)} accepted`,
        });
      }
    }
    await next(ctx, claims, header, client);
  };
}
