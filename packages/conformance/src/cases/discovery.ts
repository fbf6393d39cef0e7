/** Authorization server metadata (RFC 8414) as CIMD clients read it. */
import type { CaseContext } from '../context.js';
import type { CaseVerdict, Level } from '../types.js';
import type { CaseDef } from './common.js';

function metaCase(
  id: string,
  title: string,
  level: Level,
  cite: string,
  check: (metadata: Record<string, unknown>, ctx: CaseContext) => CaseVerdict | Promise<CaseVerdict>,
): CaseDef {
  return {
    id: `discovery.${id}`,
    family: 'discovery',
    title,
    level,
    cite,
    run: async (ctx) => check(ctx.metadata, ctx),
  };
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const show = (value: unknown) => (value === undefined ? 'absent' : JSON.stringify(value));

export const discoveryCases: CaseDef[] = [
  metaCase(
    'flag',
    'client_id_metadata_document_supported is true',
    'MUST',
    'CIMD -03 (AS metadata); MCP 2025-11-25 authorization',
    (m) => ({
      pass: m.client_id_metadata_document_supported === true,
      detail: `client_id_metadata_document_supported: ${show(m.client_id_metadata_document_supported)}`,
    }),
  ),
  metaCase('flag-boolean', 'the flag is a JSON boolean, not a string', 'MUST', 'RFC 8414 §2; CIMD -03', (m) => ({
    pass: typeof m.client_id_metadata_document_supported === 'boolean',
    detail: `type ${typeof m.client_id_metadata_document_supported}`,
  })),
  metaCase('issuer', 'issuer equals the issuer the kit was given', 'MUST', 'RFC 8414 §3.3', (_m, ctx) => ({
    pass: ctx.settings.servedIssuer === ctx.issuer,
    detail: `metadata issuer ${show(ctx.settings.servedIssuer)}, expected ${show(ctx.issuer)}`,
  })),
  metaCase(
    's256',
    'code_challenge_methods_supported contains S256',
    'MUST',
    'MCP 2025-11-25 authorization; OAuth 2.1 §4.1.1',
    (m) => ({
      pass: list(m.code_challenge_methods_supported).includes('S256'),
      detail: `code_challenge_methods_supported: ${show(m.code_challenge_methods_supported)}`,
    }),
  ),
  metaCase('no-plain', 'PKCE plain is not offered', 'SHOULD', 'RFC 9700 §2.1.1', (m) => ({
    pass: !list(m.code_challenge_methods_supported).includes('plain'),
    detail: `code_challenge_methods_supported: ${show(m.code_challenge_methods_supported)}`,
  })),
  metaCase(
    'auth-none',
    'token_endpoint_auth_methods_supported contains none',
    'SHOULD',
    'CIMD -03 §6; MCP 2025-11-25 authorization',
    (m) => ({
      pass: list(m.token_endpoint_auth_methods_supported).includes('none'),
      detail: `token_endpoint_auth_methods_supported: ${show(m.token_endpoint_auth_methods_supported)}`,
    }),
  ),
  metaCase(
    'no-shared-secret-only',
    'a method usable without a shared secret is offered',
    'MUST',
    'CIMD -03 §6',
    (m) => {
      const methods = list(m.token_endpoint_auth_methods_supported);
      const usable = methods.filter((x) => x === 'none' || x === 'private_key_jwt');
      return {
        pass: usable.length > 0 || m.token_endpoint_auth_methods_supported === undefined,
        detail: `usable: ${show(usable)}`,
      };
    },
  ),
  metaCase(
    'iss-parameter',
    'authorization_response_iss_parameter_supported (RFC 9207)',
    'info',
    'RFC 9207 §3',
    (m) => ({
      pass: m.authorization_response_iss_parameter_supported === true,
      detail: `authorization_response_iss_parameter_supported: ${show(m.authorization_response_iss_parameter_supported)}`,
    }),
  ),
  metaCase(
    'signing-algs',
    'private_key_jwt comes with token_endpoint_auth_signing_alg_values_supported',
    'info',
    'RFC 8414 §2',
    (m) => {
      const pkj = list(m.token_endpoint_auth_methods_supported).includes('private_key_jwt');
      const algs = list(m.token_endpoint_auth_signing_alg_values_supported);
      return {
        pass: !pkj || (algs.length > 0 && !algs.includes('none')),
        detail: pkj
          ? `algs: ${show(m.token_endpoint_auth_signing_alg_values_supported)}`
          : 'private_key_jwt not offered',
      };
    },
  ),
  metaCase(
    'oidc-discovery',
    'the OpenID discovery document carries the flag too (when served)',
    'policy',
    'OpenID Connect Discovery 1.0 §4; CIMD -03',
    async (_m, ctx) => {
      const url = `${new URL(ctx.issuer).origin}/.well-known/openid-configuration${new URL(ctx.issuer).pathname.replace(/\/$/, '')}`;
      const answer = await ctx.get(url, 'openid-configuration');
      if (answer.status === 404) return { pass: true, detail: 'no OpenID discovery document (404): nothing to check' };
      try {
        const doc = JSON.parse(answer.text) as Record<string, unknown>;
        return {
          pass: doc.client_id_metadata_document_supported === true,
          detail: `client_id_metadata_document_supported: ${show(doc.client_id_metadata_document_supported)}`,
        };
      } catch {
        return { pass: false, detail: `HTTP ${answer.status}, not JSON` };
      }
    },
  ),
];
