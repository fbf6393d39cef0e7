/**
 * The client-id advisor: from an authorization server's metadata (RFC 8414 / OpenID discovery), predict for
 * every client of the known-clients catalog the client id it will present, the token endpoint authentication
 * method it will use, and what will fail, each prediction with the public source it rests on. Pure: `cimd
 * advise` feeds it a metadata document it fetched, the discovery self-check the provider's own.
 *
 * What is predicted (MCP authorization 2025-11-25; the catalog's per-client facts):
 * - without `client_id_metadata_document_supported: true` no client uses CIMD: Dynamic Client Registration
 *   when the server has a `registration_endpoint`, otherwise no way in;
 * - clients that need `none` in `token_endpoint_auth_methods_supported` fall back the same way without it;
 * - without `S256` in `code_challenge_methods_supported` MCP clients refuse the server;
 * - ChatGPT and Codex present their stable id only to servers advertising RFC 9207
 *   `authorization_response_iss_parameter_supported: true`, a per-connector id otherwise;
 * - a client that validates id_tokens requests `openid` when `scopes_supported` lists it, and then needs the
 *   signing keys at `jwks_uri`.
 */
import { type KnownClient, knownClients } from './known-clients.js';
import { compilePatterns } from './trust.js';

const MCP_AUTHORIZATION = 'https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization';
const RFC_8414 = 'https://www.rfc-editor.org/rfc/rfc8414#section-2';

export type AdviceProblemId =
  | 'flag_missing'
  | 'none_missing'
  | 's256_missing'
  | 'auth_method_unsupported'
  | 'iss_missing'
  | 'openid_missing'
  | 'id_token_unverifiable';

export interface AdviceProblem {
  id: AdviceProblemId;
  /** `fail`: the client cannot sign in with CIMD; `note`: it works, differently than one might expect. */
  severity: 'fail' | 'note';
  message: string;
  source: string;
}

export interface ClientAdvice {
  /** The catalog entry's name. */
  client: string;
  /**
   * What the client will do here: sign in with its CIMD id, fall back to Dynamic Client Registration, or find
   * no way in at all.
   */
  outcome: 'cimd' | 'dcr' | 'fails';
  /** The id (or URL pattern, for per-connector ids) it will present, when it uses CIMD. */
  clientId: { id: string; source: string } | undefined;
  /** The token endpoint authentication method it will use, when one of its methods is supported. */
  authMethod: { method: string; source: string } | undefined;
  problems: AdviceProblem[];
}

const strings = (value: unknown): string[] | undefined =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;

/** The predictions for one client against one metadata document. */
export function adviseClient(client: KnownClient, metadata: Readonly<Record<string, unknown>>): ClientAdvice {
  const behaviour = client.behaviour;
  const problems: AdviceProblem[] = [];
  const hasDcr = typeof metadata.registration_endpoint === 'string';
  const fallBack = hasDcr
    ? 'falls back to Dynamic Client Registration'
    : 'has no way in (no registration_endpoint for DCR)';
  let usesCimd = true;
  let fails = false;

  if (metadata.client_id_metadata_document_supported !== true) {
    usesCimd = false;
    problems.push({
      id: 'flag_missing',
      severity: 'fail',
      message: `discovery lacks client_id_metadata_document_supported: true, so ${client.name} ${fallBack}`,
      source: MCP_AUTHORIZATION,
    });
  }
  // RFC 8414 §2: an absent list means client_secret_basic only.
  const methods = strings(metadata.token_endpoint_auth_methods_supported) ?? ['client_secret_basic'];
  if (behaviour.needsNone && !methods.includes('none')) {
    usesCimd = false;
    problems.push({
      id: 'none_missing',
      severity: 'fail',
      message: `token_endpoint_auth_methods_supported lacks "none", so ${client.name} ${fallBack}`,
      source: behaviour.needsNone.source,
    });
  }
  let authMethod: ClientAdvice['authMethod'];
  const { preferred, fallback, source: authSource } = behaviour.authentication;
  if (methods.includes(preferred)) authMethod = { method: preferred, source: authSource };
  else if (fallback && methods.includes(fallback)) authMethod = { method: fallback, source: authSource };
  else if (usesCimd) {
    // (A client already falling back to DCR registers whatever method the server offers.)
    fails = true;
    problems.push({
      id: 'auth_method_unsupported',
      severity: 'fail',
      message: `${client.name} authenticates with ${[preferred, fallback].filter(Boolean).join(' or ')}, and token_endpoint_auth_methods_supported lists ${methods.join(', ')}: its document is refused (unauthorized_client)`,
      source: metadata.token_endpoint_auth_methods_supported === undefined ? RFC_8414 : authSource,
    });
  }
  if (!strings(metadata.code_challenge_methods_supported)?.includes('S256')) {
    fails = true;
    problems.push({
      id: 's256_missing',
      severity: 'fail',
      message: `code_challenge_methods_supported lacks S256: ${client.name} refuses the server (PKCE with S256 is required)`,
      source: behaviour.needsS256.source,
    });
  }

  const iss = metadata.authorization_response_iss_parameter_supported === true;
  const choice =
    behaviour.ids.find((id) => id.when === (iss ? 'iss_supported' : 'iss_not_supported')) ??
    behaviour.ids.find((id) => id.when === 'always');
  if (!iss && behaviour.ids.some((id) => id.when === 'iss_supported')) {
    const stable = behaviour.ids.find((id) => id.when === 'iss_supported')!;
    problems.push({
      id: 'iss_missing',
      severity: 'note',
      message: `without authorization_response_iss_parameter_supported: true (RFC 9207), ${client.name} presents a per-connector id (${choice?.id ?? 'unknown'}), not ${stable.id}: allow-list the pattern, or advertise the iss parameter`,
      source: stable.source,
    });
  }

  if (behaviour.validatesIdToken) {
    const scopes = strings(metadata.scopes_supported);
    if (scopes?.includes('openid')) {
      if (typeof metadata.jwks_uri !== 'string') {
        fails = true;
        problems.push({
          id: 'id_token_unverifiable',
          severity: 'fail',
          message: `${client.name} requests openid (scopes_supported lists it) and validates the id_token, but discovery has no jwks_uri to verify it with`,
          source: behaviour.validatesIdToken.source,
        });
      }
    } else {
      problems.push({
        id: 'openid_missing',
        severity: 'note',
        message: `scopes_supported does not list openid: ${client.name} signs in without an id_token`,
        source: behaviour.validatesIdToken.source,
      });
    }
  }

  const outcome: ClientAdvice['outcome'] = fails ? 'fails' : usesCimd ? 'cimd' : hasDcr ? 'dcr' : 'fails';
  return {
    client: client.name,
    outcome,
    clientId: usesCimd && choice ? { id: choice.id, source: choice.source } : undefined,
    authMethod: usesCimd ? authMethod : undefined,
    problems,
  };
}

/** The predictions for every client of the catalog (or of the entries given), in catalog order. */
export function adviseClients(
  metadata: Readonly<Record<string, unknown>>,
  entries: readonly KnownClient[] = knownClients,
): ClientAdvice[] {
  return entries.map((client) => adviseClient(client, metadata));
}

const matchers = new WeakMap<KnownClient, ReturnType<typeof compilePatterns>>();

/**
 * The catalog entry a client id belongs to: the FIRST entry with a matching pattern, which is why the catalog
 * lists exact ids before patterns that also match them (Codex's stable id before ChatGPT's per-connector pattern).
 */
export function knownClientFor(
  clientId: string,
  entries: readonly KnownClient[] = knownClients,
): KnownClient | undefined {
  const url = URL.parse(clientId);
  if (!url) return undefined;
  for (const client of entries) {
    let match = matchers.get(client);
    if (!match) {
      match = compilePatterns([...client.patterns]);
      matchers.set(client, match);
    }
    if (match(clientId, url)) return client;
  }
  return undefined;
}
