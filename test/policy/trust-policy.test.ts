import { createTrustPolicy } from '../../packages/oidc-provider-cimd/src/rules/trust.js';

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
