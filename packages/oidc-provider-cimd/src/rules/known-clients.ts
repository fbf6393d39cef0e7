/**
 * The known-clients catalog (SPEC.domainTrust): the client ids, or URL
 * patterns, that widely used MCP clients present, and what each one does with a server's metadata.
 * Facts only: each entry names where the id is documented and when that was last checked. A deployment uses it
 * as an allow-list preset or as `consent.trusted` (the pattern token `known`, or `knownClientPatterns()`), can
 * extend it with its own patterns, or leave it out; `cimd advise` and the discovery self-check read the
 * behaviour facts (rules/client-advice.ts).
 *
 * How to update it: add or change an entry only from a public source that shows the exact id (the vendor's
 * documentation, its source repository, or the published document itself), set `checked` to the day you
 * compared the id with that source, refresh the snapshots (`cimd catalog drift --update`, with internet access)
 * and run the catalog tests. Prefer an exact id; use a URL pattern only where the vendor issues one id per
 * connector or per server, and never a host pattern on a shared host such as github.com.
 *
 * ORDER MATTERS: `knownClientFor` (rules/client-advice.ts) answers with the first entry that matches, so an exact id must come before
 * any pattern that also matches it. `https://chatgpt.com/oauth/codex/client.json` is Codex's, but ChatGPT's
 * per-connector pattern `https://chatgpt.com/oauth/*\/client.json` matches it too (`codex` is one segment):
 * Codex is listed first.
 */
/** One fact about a client's behaviour, with the public source it comes from. */
export interface SourcedFact {
  readonly source: string;
}

/** Which id the client presents, depending on the server's metadata. */
export interface IdChoice extends SourcedFact {
  /** The id (or URL pattern) presented. */
  readonly id: string;
  /**
   * When it is presented: always, or only when discovery does / does not carry RFC 9207
   * `authorization_response_iss_parameter_supported: true`.
   */
  readonly when: 'always' | 'iss_supported' | 'iss_not_supported';
}

export interface ClientBehaviour {
  readonly ids: readonly IdChoice[];
  /**
   * Token endpoint authentication: the method the client prefers, and the one it falls back to when the
   * server's `token_endpoint_auth_methods_supported` does not list the preferred one.
   */
  readonly authentication: SourcedFact & { readonly preferred: string; readonly fallback?: string };
  /** Uses CIMD only when discovery lists `none`; falls back to Dynamic Client Registration otherwise. */
  readonly needsNone?: SourcedFact;
  /** Refuses a server whose `code_challenge_methods_supported` lacks `S256` (MCP authorization). */
  readonly needsS256: SourcedFact;
  /** Requests `openid` when `scopes_supported` lists it, and validates the id_token (needs a usable `jwks_uri`). */
  readonly validatesIdToken?: SourcedFact;
}

export interface KnownClient {
  /** The product, as users know it. */
  readonly name: string;
  /** Exact client ids and/or URL patterns (`*` = exactly one path segment). */
  readonly patterns: readonly string[];
  /** A public URL where the id (or the id scheme) is documented. */
  readonly source: string;
  /** The day (YYYY-MM-DD) the patterns were last compared with the source. */
  readonly checked: string;
  /** What the client does with a server's metadata (for `cimd advise`). */
  readonly behaviour: ClientBehaviour;
}

// Sources shared by several entries.
const MCP_AUTHORIZATION = 'https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization';
const CLAUDE_AUTH = 'https://claude.com/docs/connectors/building/authentication';
const OPENAI_AUTH = 'https://developers.openai.com/plugins/build/auth';
const GRAM_CATALOG = 'https://github.com/speakeasy-api/gram/pull/5516';

const publicClient = (id: string, source: string): ClientBehaviour => ({
  ids: [{ id, when: 'always', source }],
  authentication: { preferred: 'none', source },
  needsS256: { source: MCP_AUTHORIZATION },
});

const entry = (
  name: string,
  patterns: string[],
  source: string,
  checked: string,
  behaviour: ClientBehaviour = publicClient(patterns[0]!, source),
): KnownClient =>
  Object.freeze({ name, patterns: Object.freeze(patterns), source, checked, behaviour: Object.freeze(behaviour) });

export const knownClients: readonly KnownClient[] = Object.freeze([
  entry('Claude', ['https://claude.ai/oauth/mcp-oauth-client-metadata'], CLAUDE_AUTH, '2026-12-07', {
    ids: [{ id: 'https://claude.ai/oauth/mcp-oauth-client-metadata', when: 'always', source: CLAUDE_AUTH }],
    authentication: { preferred: 'none', source: CLAUDE_AUTH },
    needsNone: { source: CLAUDE_AUTH },
    needsS256: { source: MCP_AUTHORIZATION },
    validatesIdToken: { source: 'https://github.com/oblien/openship/pull/540' },
  }),
  entry(
    'Claude Code',
    ['https://claude.ai/oauth/claude-code-client-metadata'],
    'https://github.com/anthropics/claude-code/issues/44388',
    '2026-12-07',
    {
      ids: [
        {
          id: 'https://claude.ai/oauth/claude-code-client-metadata',
          when: 'always',
          source: 'https://github.com/anthropics/claude-code/issues/44388',
        },
      ],
      authentication: { preferred: 'none', source: CLAUDE_AUTH },
      needsNone: { source: CLAUDE_AUTH },
      needsS256: { source: MCP_AUTHORIZATION },
    },
  ),
  // Before ChatGPT: ChatGPT's per-connector pattern also matches Codex's stable id (see the header).
  entry(
    'Codex',
    // Codex ≥ 0.148 presents one id per MCP server: https://chatgpt.com/oauth/codex/<id>/client.json; the stable
    // id is for servers that advertise RFC 9207.
    ['https://chatgpt.com/oauth/codex/client.json', 'https://chatgpt.com/oauth/codex/*/client.json'],
    'https://github.com/openai/codex/pull/38089',
    '2026-12-07',
    {
      ids: [
        { id: 'https://chatgpt.com/oauth/codex/client.json', when: 'iss_supported', source: OPENAI_AUTH },
        {
          id: 'https://chatgpt.com/oauth/codex/*/client.json',
          when: 'iss_not_supported',
          source: 'https://github.com/openai/codex/pull/38089',
        },
      ],
      authentication: { preferred: 'none', source: 'https://github.com/openai/codex/pull/38089' },
      needsNone: { source: 'https://github.com/openai/codex/pull/38089' },
      needsS256: { source: MCP_AUTHORIZATION },
    },
  ),
  entry(
    'ChatGPT',
    // One id per connector: https://chatgpt.com/oauth/<connector id>/client.json; the stable id for servers that
    // advertise RFC 9207.
    ['https://chatgpt.com/oauth/client.json', 'https://chatgpt.com/oauth/*/client.json'],
    GRAM_CATALOG,
    '2026-12-07',
    {
      ids: [
        { id: 'https://chatgpt.com/oauth/client.json', when: 'iss_supported', source: OPENAI_AUTH },
        { id: 'https://chatgpt.com/oauth/*/client.json', when: 'iss_not_supported', source: GRAM_CATALOG },
      ],
      // Its document prefers private_key_jwt and also lists none (token_endpoint_auth_methods_supported).
      authentication: {
        preferred: 'private_key_jwt',
        fallback: 'none',
        source: 'https://github.com/gamedevpl/www.gamedev.pl/pull/641',
      },
      needsS256: { source: MCP_AUTHORIZATION },
    },
  ),
  entry(
    'VS Code',
    ['https://vscode.dev/oauth/client-metadata.json'],
    'https://github.com/microsoft/vscode/issues/298300',
    '2026-12-07',
  ),
  entry(
    'VS Code Insiders',
    ['https://insiders.vscode.dev/oauth/client-metadata.json'],
    'https://github.com/speakeasy-api/gram/pull/5516',
    '2026-12-07',
  ),
  entry(
    'Zed',
    ['https://zed.dev/oauth/client-metadata.json'],
    'https://zed.dev/oauth/client-metadata.json',
    '2026-12-07',
  ),
  entry(
    'goose',
    ['https://goose-docs.ai/oauth/client-metadata.json'],
    'https://github.com/aaif-goose/goose/pull/8550',
    '2026-12-07',
  ),
  entry(
    'GitHub Copilot CLI',
    // An exact id: github.com hosts user content, so no pattern on it is safe.
    ['https://github.com/copilot/cli/client-metadata.json'],
    'https://github.com/speakeasy-api/gram/pull/6608',
    '2026-12-07',
  ),
  entry(
    'opencode',
    ['https://opencode.ai/oauth/opencode/client.json'],
    'https://github.com/anomalyco/opencode/pull/47737',
    '2026-12-07',
    {
      ...publicClient(
        'https://opencode.ai/oauth/opencode/client.json',
        'https://github.com/anomalyco/opencode/pull/47737',
      ),
      needsNone: { source: 'https://github.com/anomalyco/opencode/pull/47737' },
    },
  ),
  // Notion publishes two documents on two origins, each consistent with its own redirect URIs; the apex
  // notion.so redirects to www, so it is not itself a client id.
  entry(
    'Notion',
    ['https://www.notion.so/oauth/mcp-client-metadata.json', 'https://app.notion.com/oauth/mcp-client-metadata.json'],
    GRAM_CATALOG,
    '2026-12-07',
    {
      ids: [
        { id: 'https://www.notion.so/oauth/mcp-client-metadata.json', when: 'always', source: GRAM_CATALOG },
        { id: 'https://app.notion.com/oauth/mcp-client-metadata.json', when: 'always', source: GRAM_CATALOG },
      ],
      authentication: { preferred: 'none', source: GRAM_CATALOG },
      needsS256: { source: MCP_AUTHORIZATION },
    },
  ),
  entry(
    'MCPJam Inspector',
    ['https://www.mcpjam.com/.well-known/oauth/client-metadata.json'],
    GRAM_CATALOG,
    '2026-12-07',
  ),
  entry('Factory Droid', ['https://api.factory.ai/mcp/oauth-client'], GRAM_CATALOG, '2026-12-07'),
  entry('ToolHive', ['https://toolhive.dev/oauth/client-metadata.json'], GRAM_CATALOG, '2026-12-07'),
  // Served from GitHub Pages: an exact id, never a pattern on github.io.
  entry(
    'Hermes Agent',
    ['https://nousresearch.github.io/hermes-agent/docs/oauth/client-metadata.json'],
    GRAM_CATALOG,
    '2026-12-07',
  ),
  // The apex skydive.com redirects to www: only the www form is a client id.
  entry('Skydive', ['https://www.skydive.com/api/v1/external-oauth/client-metadata'], GRAM_CATALOG, '2026-12-07'),
  // Served from GitHub Pages: an exact id. Its document registers loopback redirect URIs on fixed ports.
  entry(
    'mcpc',
    ['https://apify.github.io/mcpc/client-metadata.json'],
    'https://github.com/apify/mcpc/pull/187',
    '2026-12-07',
  ),
]);

/** The token that stands for the whole catalog in allow, deny and `consent.trusted` lists. */
export const KNOWN_CLIENTS_TOKEN = 'known';

/** Every pattern of the catalog (or of the entries given), flattened: an allow-list preset. */
export function knownClientPatterns(entries: readonly KnownClient[] = knownClients): string[] {
  return entries.flatMap((client) => [...client.patterns]);
}
