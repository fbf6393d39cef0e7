/**
 * The known-clients catalog: the exact ids the issue lists, each with a source and a check date, exported from
 * the package index, and every pattern a valid one.
 */
import { KNOWN_CLIENTS_TOKEN, knownClientPatterns, knownClients } from 'oidc-provider-cimd';
import { compilePatterns } from '../../packages/oidc-provider-cimd/src/rules/trust.js';

const REQUIRED: Record<string, string[]> = {
  Claude: ['https://claude.ai/oauth/mcp-oauth-client-metadata'],
  'Claude Code': ['https://claude.ai/oauth/claude-code-client-metadata'],
  ChatGPT: ['https://chatgpt.com/oauth/client.json', 'https://chatgpt.com/oauth/*/client.json'],
  Codex: ['https://chatgpt.com/oauth/codex/client.json', 'https://chatgpt.com/oauth/codex/*/client.json'],
  'VS Code': ['https://vscode.dev/oauth/client-metadata.json'],
  Zed: ['https://zed.dev/oauth/client-metadata.json'],
  goose: ['https://goose-docs.ai/oauth/client-metadata.json'],
  'GitHub Copilot CLI': ['https://github.com/copilot/cli/client-metadata.json'],
};

describe('known-clients catalog', () => {
  test('holds at least the eight listed clients, with exactly these ids', () => {
    for (const [name, patterns] of Object.entries(REQUIRED)) {
      const entry = knownClients.find((client) => client.name === name);
      expect(entry?.patterns).toEqual(patterns);
    }
  });

  test('every entry has a public https source and a real check date', () => {
    expect(knownClients.length).toBeGreaterThanOrEqual(8);
    for (const client of knownClients) {
      expect(client.name).toMatch(/\S/);
      expect(client.patterns.length).toBeGreaterThan(0);
      expect(new URL(client.source).protocol).toBe('https:');
      expect(client.checked).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(new Date(`${client.checked}T00:00:00Z`).toISOString().slice(0, 10)).toBe(client.checked);
    }
  });

  test('every pattern compiles, is an exact id or a URL pattern (never a host pattern), and matches itself', () => {
    for (const pattern of knownClientPatterns()) {
      expect(pattern.startsWith('https://')).toBe(true);
      const match = compilePatterns([pattern]);
      const cid = pattern.replaceAll('*', 'x1');
      expect(match(cid, new URL(cid))).toBe(true);
    }
  });

  test('on github.com only the exact Copilot CLI id matches', () => {
    const match = compilePatterns([KNOWN_CLIENTS_TOKEN]);
    const is = (cid: string) => match(cid, new URL(cid));
    expect(is('https://github.com/copilot/cli/client-metadata.json')).toBe(true);
    expect(is('https://github.com/attacker/cli/client-metadata.json')).toBe(false);
    expect(is('https://github.com/copilot/cli/other.json')).toBe(false);
  });

  test('is frozen data: a deployment extends it by building its own list', () => {
    expect(Object.isFrozen(knownClients)).toBe(true);
    expect(Object.isFrozen(knownClients[0])).toBe(true);
    expect(() => (knownClients as unknown as unknown[]).push({})).toThrow();
    const extended = [...knownClientPatterns(), 'https://acme.dev/client.json'];
    expect(extended).toContain('https://acme.dev/client.json');
  });
});
