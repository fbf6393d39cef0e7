/**
 * The known-clients catalog (SPEC.domainTrust): the client ids, or URL patterns, that widely used MCP clients present.
 * Facts only: each entry names where the id is documented and when that was last checked. A deployment uses it
 * as an allow-list preset or as `consent.trusted` (the pattern token `known`, or `knownClientPatterns()`), can
 * extend it with its own patterns, or leave it out.
 *
 * How to update it: add or change an entry only from a public source that shows the exact id (the vendor's
 * documentation, its source repository, or the published document itself), set `checked` to the day you
 * compared the id with that source, and run the catalog tests (test/policy/known-clients.test.ts). Prefer an
 * exact id; use a URL pattern only where the vendor issues one id per connector or per server, and never a host
 * pattern on a shared host such as github.com.
 */

export interface KnownClient {
  /** The product, as users know it. */
  readonly name: string;
  /** Exact client ids and/or URL patterns (`*` = exactly one path segment). */
  readonly patterns: readonly string[];
  /** A public URL where the id (or the id scheme) is documented. */
  readonly source: string;
  /** The day (YYYY-MM-DD) the patterns were last compared with the source. */
  readonly checked: string;
}

const entry = (name: string, patterns: string[], source: string, checked: string): KnownClient =>
  Object.freeze({ name, patterns: Object.freeze(patterns), source, checked });

export const knownClients: readonly KnownClient[] = Object.freeze([
  entry(
    'Claude',
    ['https://claude.ai/oauth/mcp-oauth-client-metadata'],
    'https://claude.com/docs/connectors/building/authentication',
    '2026-12-01',
  ),
  entry(
    'Claude Code',
    ['https://claude.ai/oauth/claude-code-client-metadata'],
    'https://github.com/anthropics/claude-code/issues/44388',
    '2026-12-01',
  ),
  entry(
    'ChatGPT',
    // One id per connector: https://chatgpt.com/oauth/<connector id>/client.json.
    ['https://chatgpt.com/oauth/client.json', 'https://chatgpt.com/oauth/*/client.json'],
    'https://github.com/speakeasy-api/gram/pull/5516',
    '2026-12-01',
  ),
  entry(
    'Codex',
    // Codex ≥ 0.148 presents one id per MCP server: https://chatgpt.com/oauth/codex/<id>/client.json.
    ['https://chatgpt.com/oauth/codex/client.json', 'https://chatgpt.com/oauth/codex/*/client.json'],
    'https://github.com/openai/codex/pull/38089',
    '2026-12-01',
  ),
  entry(
    'VS Code',
    ['https://vscode.dev/oauth/client-metadata.json'],
    'https://github.com/microsoft/vscode/issues/298300',
    '2026-12-01',
  ),
  entry(
    'Zed',
    ['https://zed.dev/oauth/client-metadata.json'],
    'https://zed.dev/oauth/client-metadata.json',
    '2026-12-01',
  ),
  entry(
    'goose',
    ['https://goose-docs.ai/oauth/client-metadata.json'],
    'https://github.com/aaif-goose/goose/pull/8550',
    '2026-12-01',
  ),
  entry(
    'GitHub Copilot CLI',
    // An exact id: github.com hosts user content, so no pattern on it is safe.
    ['https://github.com/copilot/cli/client-metadata.json'],
    'https://github.com/speakeasy-api/gram/pull/6608',
    '2026-12-01',
  ),
  entry(
    'opencode',
    ['https://opencode.ai/oauth/opencode/client.json'],
    'https://github.com/anomalyco/opencode/pull/47737',
    '2026-12-01',
  ),
]);

/** The token that stands for the whole catalog in allow, deny and `consent.trusted` lists. */
export const KNOWN_CLIENTS_TOKEN = 'known';

/** Every pattern of the catalog (or of the entries given), flattened: an allow-list preset. */
export function knownClientPatterns(entries: readonly KnownClient[] = knownClients): string[] {
  return entries.flatMap((client) => [...client.patterns]);
}
