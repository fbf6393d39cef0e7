/**
 * private_key_jwt client assertions (RFC 7523 §3) for token-endpoint tests: an ES256 JWS in compact form
 * (RFC 7515), signed with a test key, with exactly the header the test asks for.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An ES256 key pair and its public JWK (`kid` as given, `alg: ES256`, `use: sig`). */
export function es256Key(kid = 'k1'): { privateKey: KeyObject; publicJwk: Record<string, unknown> } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

/** Signs `payload` with `key` (ES256) under exactly `header` (`alg` defaults to ES256). */
export function signEs256(key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${encode({ alg: 'ES256', ...header })}.${encode(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** A client assertion for `clientId` to `audience`, valid for a minute, under `header` (e.g. `{ kid, typ }`). */
export function clientAssertion(
  key: KeyObject,
  clientId: string,
  audience: string,
  header: Record<string, unknown> = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  return signEs256(key, header, {
    iss: clientId,
    sub: clientId,
    aud: audience,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
  });
}

/** The token request parameters of a private_key_jwt client authentication (RFC 7523 §2.2). */
export function assertionParams(
  key: KeyObject,
  clientId: string,
  audience: string,
  header: Record<string, unknown> = {},
): { client_assertion_type: string; client_assertion: string } {
  return {
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion(key, clientId, audience, header),
  };
}

/** The document of a CIMD client that signs its assertions (ES256) with keys published at `jwksUri`. */
export function jwksUriClientDocument(cid: string, redirectUri: string, jwksUri: string): string {
  return JSON.stringify({
    client_id: cid,
    client_name: 'Keys elsewhere',
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks_uri: jwksUri,
  });
}
