import { createCimd } from 'oidc-provider-cimd';
import { knownClients } from '../../packages/oidc-provider-cimd/src/rules/known-clients.js';
import { compilePatterns, createTrustPolicy } from '../../packages/oidc-provider-cimd/src/rules/trust.js';

const check = async (policy: ReturnType<typeof createTrustPolicy>, cid: string) =>
  (await policy(cid, new URL(cid))).allowed;

describe('trust policy', () => {
  test('default: every client id that passed the URL rules is allowed', async () => {
    const policy = createTrustPolicy();
    expect(await check(policy, 'https://anything.example.net/c.json')).toBe(true);
  });

  test('deny by exact client id, exact host, host with port and wildcard host', async () => {
    const policy = createTrustPolicy({
      deny: ['https://ok.acme.com/bad.json', 'evil.com', 'tools.acme.com:8443', '*.spam.net'],
    });
    expect(await check(policy, 'https://ok.acme.com/bad.json')).toBe(false);
    expect(await check(policy, 'https://ok.acme.com/good.json')).toBe(true);
    expect(await check(policy, 'https://evil.com/c')).toBe(false);
    expect(await check(policy, 'https://evil.com:8443/c')).toBe(false);
    expect(await check(policy, 'https://sub.evil.com/c')).toBe(true);
    expect(await check(policy, 'https://tools.acme.com:8443/c')).toBe(false);
    expect(await check(policy, 'https://tools.acme.com/c')).toBe(true);
    expect(await check(policy, 'https://a.spam.net/c')).toBe(false);
    expect(await check(policy, 'https://a.b.spam.net/c')).toBe(false);
    expect(await check(policy, 'https://spam.net/c')).toBe(true);
    expect(await check(policy, 'https://notspam.net/c')).toBe(true);
  });

  test('allow list: only matching ids pass, and deny wins over allow', async () => {
    const policy = createTrustPolicy({ allow: ['*.claude.ai', 'claude.ai', 'vscode.dev'], deny: ['bad.claude.ai'] });
    expect(await check(policy, 'https://claude.ai/oauth/x')).toBe(true);
    expect(await check(policy, 'https://api.claude.ai/oauth/x')).toBe(true);
    expect(await check(policy, 'https://vscode.dev/oauth/client-metadata.json')).toBe(true);
    expect(await check(policy, 'https://bad.claude.ai/x')).toBe(false);
    expect(await check(policy, 'https://claude.ai.evil.com/x')).toBe(false);
    expect(await check(policy, 'https://zed.dev/x')).toBe(false);
  });

  test('hook decides what no list matched; a failing hook refuses', async () => {
    const seen: string[] = [];
    const policy = createTrustPolicy({
      allow: ['vscode.dev'],
      deny: ['evil.com'],
      decide: async (cid) => {
        seen.push(cid);
        if (cid.includes('boom')) throw new Error('db down');
        return cid.includes('yes') ? 'allow' : false;
      },
    });
    expect(await check(policy, 'https://vscode.dev/c')).toBe(true);
    expect(await check(policy, 'https://evil.com/yes')).toBe(false);
    expect(await check(policy, 'https://zed.dev/yes')).toBe(true);
    expect(await check(policy, 'https://zed.dev/no')).toBe(false);
    expect(await check(policy, 'https://zed.dev/boom')).toBe(false);
    // Lists decide first: the hook never saw the listed ids.
    expect(seen).toEqual(['https://zed.dev/yes', 'https://zed.dev/no', 'https://zed.dev/boom']);
  });

  test.each(['', '*', '*.', 'a/b', 'foo*.com', '*.*.com'])('pattern %j is a configuration error', (pattern) => {
    expect(() => createTrustPolicy({ deny: [pattern] })).toThrow(/bad (host|client) pattern/);
  });
});

describe('URL patterns with path wildcards', () => {
  const allowOnly = (...patterns: string[]) => createTrustPolicy({ allow: patterns });

  test('`*` matches exactly one whole, non-empty path segment', async () => {
    const policy = allowOnly('https://chatgpt.com/oauth/*/client.json');
    expect(await check(policy, 'https://chatgpt.com/oauth/abc123/client.json')).toBe(true);
    // Never a percent-encoded character (an origin that decodes %2F would route it elsewhere).
    expect(await check(policy, 'https://chatgpt.com/oauth/a%2Fb/client.json')).toBe(false);
    // Two segments, none, an empty one:
    expect(await check(policy, 'https://chatgpt.com/oauth/codex/abc/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/oauth/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/oauth//client.json')).toBe(false);
    // Every other segment exactly:
    expect(await check(policy, 'https://chatgpt.com/oauth/abc/client.jsonx')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/oauth/abc/client.json/')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/OAuth/abc/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/x/oauth/abc/client.json')).toBe(false);
  });

  test('scheme, host and port match exactly; a query never matches', async () => {
    const policy = allowOnly('https://chatgpt.com/oauth/*/client.json', 'https://tools.example.net:8443/c/*');
    expect(await check(policy, 'https://evil.chatgpt.com/oauth/abc/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com.evil.net/oauth/abc/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com:8443/oauth/abc/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/oauth/abc/client.json?x=1')).toBe(false);
    expect(await check(policy, 'https://tools.example.net:8443/c/one')).toBe(true);
    expect(await check(policy, 'https://tools.example.net/c/one')).toBe(false);
    expect(await check(policy, 'https://tools.example.net:9443/c/one')).toBe(false);
  });

  test('the pattern spells its host and default port canonically', async () => {
    expect(() => allowOnly('https://ChatGPT.com/oauth/*/client.json')).toThrow(
      /https:\/\/chatgpt\.com\/oauth\/\*\/client\.json/,
    );
    expect(() => allowOnly('https://chatgpt.com:443/oauth/*/client.json')).toThrow(/not a canonical https URL/);
  });

  test('works in the deny list too, and deny still wins', async () => {
    const policy = createTrustPolicy({ allow: ['chatgpt.com'], deny: ['https://chatgpt.com/oauth/*/client.json'] });
    expect(await check(policy, 'https://chatgpt.com/oauth/abc/client.json')).toBe(false);
    expect(await check(policy, 'https://chatgpt.com/oauth/codex/abc/client.json')).toBe(true);
  });

  test.each([
    ['https://chatgpt.com/oauth/*/client.json?x=1', /query/],
    ['https://chatgpt.com/oauth/*/client.json#f', /fragment/],
    ['https://chatgpt.com/oauth/*/client.json?', /query/],
    ['https://chatgpt.com/oauth/a*/client.json', /whole path segment/],
    ['https://chatgpt.com/oauth/*x/client.json', /whole path segment/],
    ['https://chatgpt.com/oauth/**/client.json', /whole path segment/],
    ['https://*.chatgpt.com/oauth/*/client.json', /never a host or port/],
    ['https://chatgpt.com:*/oauth/*/client.json', /never a host or port/],
    ['https://*/client.json', /never a host or port/],
    ['https://chatgpt.com*', /never a host or port/],
    ['https://u@chatgpt.com/*/c', /canonical/],
    ['https://chatgpt.com/a/../*/c', /canonical/],
    ['https://claude.ai/client#x', /fragment/],
  ])('pattern %j is refused at startup, naming it', (pattern, why) => {
    let error: unknown;
    try {
      createTrustPolicy({ allow: [pattern] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(JSON.stringify(pattern));
    expect((error as Error).message).toMatch(why);
  });

  test('compilePatterns keeps its contract: one predicate, for consent.trusted', () => {
    const trusted = compilePatterns(['https://chatgpt.com/oauth/*/client.json', 'known']);
    const is = (cid: string) => trusted(cid, new URL(cid));
    expect(is('https://chatgpt.com/oauth/x/client.json')).toBe(true);
    expect(is('https://claude.ai/oauth/claude-code-client-metadata')).toBe(true);
    expect(is('https://claude.ai/oauth/other')).toBe(false);
  });
});

describe('admission modes', () => {
  const verdict = async (policy: ReturnType<typeof createTrustPolicy>, cid: string) => policy(cid, new URL(cid));

  test('open (the default without allow rules) admits any id; the deny list still denies', async () => {
    const policy = createTrustPolicy({ admission: 'open', deny: ['evil.com'] });
    expect(await verdict(policy, 'https://any.example.net/c')).toEqual({ allowed: true });
    expect(await verdict(policy, 'https://evil.com/c')).toEqual({
      allowed: false,
      reason: 'client_id matches the deny list',
    });
  });

  test('allowlist admits only allow-listed ids (and is the default when an allow list is given)', async () => {
    for (const options of [{ admission: 'allowlist' as const, allow: ['zed.dev'] }, { allow: ['zed.dev'] }]) {
      const policy = createTrustPolicy(options);
      expect(await verdict(policy, 'https://zed.dev/oauth/client-metadata.json')).toEqual({ allowed: true });
      expect(await verdict(policy, 'https://other.dev/c')).toEqual({
        allowed: false,
        reason: 'client_id is not on the allow list',
      });
    }
  });

  test('report serves what allowlist would refuse, with a wouldDeny reason; deny still denies', async () => {
    const policy = createTrustPolicy({ admission: 'report', allow: ['known'], deny: ['evil.com'] });
    expect(await verdict(policy, 'https://zed.dev/oauth/client-metadata.json')).toEqual({ allowed: true });
    expect(await verdict(policy, 'https://other.dev/c')).toEqual({
      allowed: true,
      wouldDeny: 'client_id is not on the allow list',
    });
    expect((await verdict(policy, 'https://evil.com/c')).allowed).toBe(false);
  });

  test('report with a hook: its refusals and failures become wouldDeny', async () => {
    const policy = createTrustPolicy({
      admission: 'report',
      decide: (cid) => {
        if (cid.includes('boom')) throw new Error('db down');
        return cid.includes('yes');
      },
    });
    expect(await verdict(policy, 'https://a.dev/yes')).toEqual({ allowed: true });
    expect(await verdict(policy, 'https://a.dev/no')).toEqual({
      allowed: true,
      wouldDeny: 'refused by the policy hook',
    });
    expect(await verdict(policy, 'https://a.dev/boom')).toEqual({
      allowed: true,
      wouldDeny: 'policy hook failed: Error: db down',
    });
  });

  test.each([
    [{ admission: 'closed' }, /policy.admission must be "open" or "allowlist" or "report", got the string "closed"/],
    [{ admission: 'open', allow: ['zed.dev'] }, /'open' admits every client/],
    [{ admission: 'allowlist' }, /needs policy.allow patterns/],
    [{ admission: 'report', deny: ['x.dev'] }, /needs policy.allow patterns/],
    [{ alow: ['zed.dev'] }, /unknown option "policy.alow"/],
  ])('%j is a configuration error (a startup check of the options table)', (policy, message) => {
    expect(() => createCimd({ policy: policy as never })).toThrow(message);
  });
});

describe('the word `known`', () => {
  test('adds the whole catalog, alone or among other patterns', async () => {
    const alone = createTrustPolicy({ allow: ['known'] });
    const among = createTrustPolicy({ allow: ['zed.dev', ' Known ', 'https://acme.dev/c.json'] });
    for (const client of knownClients) {
      for (const pattern of client.patterns) {
        const cid = pattern.replace('*', 'abc123');
        expect(await check(alone, cid)).toBe(true);
        expect(await check(among, cid)).toBe(true);
      }
    }
    expect(await check(alone, 'https://acme.dev/c.json')).toBe(false);
    expect(await check(among, 'https://acme.dev/c.json')).toBe(true);
    expect(await check(alone, 'https://github.com/someone/client-metadata.json')).toBe(false);
  });

  test('in the deny list, it denies the catalog', async () => {
    const policy = createTrustPolicy({ deny: ['known'] });
    expect(await check(policy, 'https://vscode.dev/oauth/client-metadata.json')).toBe(false);
    expect(await check(policy, 'https://acme.dev/c.json')).toBe(true);
  });
});
