/**
 * Issue 22 items 1, 3 and 4. Every option, at every depth, is validated once by the table (plugin/options.ts):
 * each mistake is a CimdOptionError with code CIMD_INVALID_OPTION and the option's exact path, never a bare
 * TypeError from an internal constructor. Cross-field checks are startup checks. Exact client ids in pattern
 * lists are checked with the client-id URL rules; a URL pattern's `*` never matches a `%`.
 */
import { type CimdOptionError, compilePatterns, createCimd } from 'oidc-provider-cimd';
import { checkClientId } from 'oidc-provider-cimd/check';

function refusal(run: () => unknown): CimdOptionError {
  try {
    run();
  } catch (error) {
    return error as CimdOptionError;
  }
  throw new Error('expected a CimdOptionError, nothing was thrown');
}
const make = (options: unknown) => () => createCimd(options as never);
const expectRefused = (options: unknown, path: string, message: RegExp) => {
  const error = refusal(make(options));
  expect({ name: error.name, code: error.code, option: error.option }).toEqual({
    name: 'CimdOptionError',
    code: 'CIMD_INVALID_OPTION',
    option: path,
  });
  expect(error.message).toMatch(message);
  return error;
};

describe('item 1: every nested option is refused with its path', () => {
  test.each([
    [
      { policy: { admission: 'open', allow: ['https://app.example.com/c.json'] } },
      'policy.admission',
      /'open' admits every client/,
    ],
    [{ policy: { admission: 'allowlist' } }, 'policy.admission', /needs policy.allow/],
    [
      { policy: { allow: ['https://app.example.com/c.json', 'ok.example', 'https://x/*bad/c.json'] } },
      'policy.allow[2]',
      /whole path segment/,
    ],
    [{ policy: { deny: ['a/b'] } }, 'policy.deny[0]', /expected a client id/],
    [{ consent: { trusted: ['vscode.dev', 'https://*.vscode.dev/c.json'] } }, 'consent.trusted[1]', /never a host/],
    [
      { budget: { maxConcurrent: 4, reservedForKnown: 4 } },
      'budget.reservedForKnown',
      /smaller than budget.maxConcurrent \(4\)/,
    ],
    [{ budget: { reservedForKnown: 32 } }, 'budget.reservedForKnown', /maxConcurrent \(32\)/],
    [{ budget: { perHostBurst: 0.5 } }, 'budget.perHostBurst', /at least 1/],
    [{ registry: { maxClients: 1.5 } }, 'registry.maxClients', /positive integer/],
    [{ consent: { logo: { path: '/logos' } } }, 'consent.logo.path', /ending with/],
    [
      {
        grantsWithoutUser: [
          { clients: ['https://agent.example.com/c.json'], grants: ['client_credentials'] },
          { clients: ['a/b'], grants: [] },
        ],
      },
      'grantsWithoutUser[1].clients[0]',
      /expected a client id/,
    ],
    [{ grantsWithoutUser: [{ clients: [], grant: [] }] }, 'grantsWithoutUser[0].grant', /not an option/],
    [
      { grantsWithoutUser: [{ clients: 'https://a.example.com/c.json', grants: [] }] },
      'grantsWithoutUser[0].clients',
      /array of strings/,
    ],
  ])('%j → %s', (options, path, message) => {
    expectRefused(options, path, message);
  });

  test('undefined stands for absent at every depth (exactOptionalPropertyTypes)', () => {
    expect(() =>
      createCimd({
        timeoutMs: undefined,
        policy: { allow: undefined, deny: undefined, admission: undefined },
        budget: { maxConcurrent: undefined, reservedForKnown: undefined },
        consent: { trusted: undefined, logo: { path: undefined } },
        registry: { maxClients: undefined },
      }),
    ).not.toThrow();
  });

  test('cimd check validates through the same table and checks', async () => {
    const error = await checkClientId('https://app.example.com/c.json', {
      grantsWithoutUser: [{ clients: ['https://Agent.example.com/c.json'], grants: ['client_credentials'] }],
    }).then(
      () => undefined,
      (e: CimdOptionError) => e,
    );
    expect(error?.option).toBe('grantsWithoutUser[0].clients[0]');
  });
});

describe('item 4: an exact client id that is not canonical stops startup with a hint', () => {
  test.each([
    ['https://Claude.ai/oauth/client.json', 'canonical', 'https://claude.ai/oauth/client.json'],
    ['https://claude.ai:443/oauth/client.json', 'canonical', 'https://claude.ai/oauth/client.json'],
    ['https://claude.ai/oauth/client.json?x=1', 'query', 'https://claude.ai/oauth/client.json'],
    ['https://claude.ai/oauth/./client.json', 'dot_segment', 'https://claude.ai/oauth/client.json'],
  ])('%s (rule %s)', (id, rule, meant) => {
    for (const [options, path] of [
      [{ policy: { allow: ['vscode.dev', id] } }, 'policy.allow[1]'],
      [{ policy: { deny: [id] } }, 'policy.deny[0]'],
      [{ consent: { trusted: [id] } }, 'consent.trusted[0]'],
      [{ grantsWithoutUser: [{ clients: [id], grants: ['client_credentials'] }] }, 'grantsWithoutUser[0].clients[0]'],
    ] as const) {
      const error = expectRefused(options, path, /can never match/);
      expect(error.message).toContain(`(rule ${rule})`);
      expect(error.message).toContain(`did you mean "${meant}"?`);
    }
  });

  test('a canonical exact id is accepted, and a query is fine where allowQuery says so', () => {
    expect(() => createCimd({ policy: { allow: ['https://claude.ai/oauth/client.json'] } })).not.toThrow();
    expect(() =>
      createCimd({ allowQuery: true, policy: { allow: ['https://claude.ai/oauth/client.json?x=1'] } }),
    ).not.toThrow();
  });
});

describe('item 3: a URL pattern `*` matches one segment of pchar without %', () => {
  const matches = compilePatterns(['https://chatgpt.com/oauth/*/client.json']);
  const test1 = (cid: string) => {
    const url = URL.parse(cid);
    return url !== null && matches(cid, url);
  };
  test.each([
    ['https://chatgpt.com/oauth/abc-123_x.y~z/client.json', true],
    ["https://chatgpt.com/oauth/a!$&'()*+,;=:@b/client.json", true],
    ['https://chatgpt.com/oauth/..%2F..%2Fshare%2Fevil/client.json', false],
    ['https://chatgpt.com/oauth/a%5Cb/client.json', false],
    ['https://chatgpt.com/oauth/%41/client.json', false],
    ['https://chatgpt.com/oauth//client.json', false],
    ['https://chatgpt.com/oauth/a/b/client.json', false],
  ])('%s → %s', (cid, expected) => {
    expect(test1(cid)).toBe(expected);
  });
});
