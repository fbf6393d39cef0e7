/**
 * The example's trust-policy environment, exactly: CIMD_ADMISSION (and its default), CIMD_ALLOW / CIMD_DENY with
 * every pattern form and the word `known`, and CIMD_TRANSPORT_FALLBACK_S. A bad value stops startup with an error
 * that names the variable.
 */
import { EnvError, parseEnv } from '../../examples/koa-server/src/env.js';

describe('CIMD_ADMISSION', () => {
  test.each([
    [{}, 'open'],
    [{ CIMD_DENY: 'evil.com' }, 'open'],
    [{ CIMD_ALLOW: 'known' }, 'allowlist'],
    [{ CIMD_ADMISSION: 'allowlist', CIMD_ALLOW: 'known' }, 'allowlist'],
    [{ CIMD_ADMISSION: 'report', CIMD_ALLOW: 'known' }, 'report'],
    [{ CIMD_ADMISSION: ' Report ', CIMD_ALLOW: 'known' }, 'report'],
    [{ CIMD_ADMISSION: 'open' }, 'open'],
    [{ CIMD_ADMISSION: '' }, 'open'],
  ])('%j → %s', (source, admission) => {
    expect(parseEnv(source).admission).toBe(admission);
  });

  test.each([
    [{ CIMD_ADMISSION: 'closed' }, /^CIMD_ADMISSION must be open, allowlist or report, got "closed"$/],
    [{ CIMD_ADMISSION: 'allow-list', CIMD_ALLOW: 'known' }, /CIMD_ADMISSION .*"allow-list"/],
    [{ CIMD_ADMISSION: 'open', CIMD_ALLOW: 'known' }, /CIMD_ADMISSION=open .*CIMD_ALLOW/],
    [{ CIMD_ADMISSION: 'allowlist' }, /CIMD_ADMISSION=allowlist needs CIMD_ALLOW/],
    [{ CIMD_ADMISSION: 'report', CIMD_DENY: 'evil.com' }, /CIMD_ADMISSION=report needs CIMD_ALLOW/],
  ])('%j stops startup naming the variable', (source, message) => {
    expect(() => parseEnv(source)).toThrow(EnvError);
    expect(() => parseEnv(source)).toThrow(message);
  });
});

describe('CIMD_ALLOW and CIMD_DENY', () => {
  test('every pattern form, and `known` alone or among patterns', () => {
    const env = parseEnv({
      CIMD_ALLOW:
        'https://app.acme.com/client.json, https://chatgpt.com/oauth/*/client.json, acme.com, tools.acme.com:8443, *.acme.dev, known',
      CIMD_DENY: 'known',
    });
    expect(env.allow).toEqual([
      'https://app.acme.com/client.json',
      'https://chatgpt.com/oauth/*/client.json',
      'acme.com',
      'tools.acme.com:8443',
      '*.acme.dev',
      'known',
    ]);
    expect(env.deny).toEqual(['known']);
  });

  test.each([
    ['CIMD_ALLOW', 'https://chatgpt.com/oauth/*/client.json?x=1', /query/],
    ['CIMD_ALLOW', 'https://chatgpt.com/oauth/*/client.json#top', /fragment/],
    ['CIMD_ALLOW', 'https://chatgpt.com/oauth/a*/client.json', /whole path segment/],
    ['CIMD_DENY', 'https://*.chatgpt.com/client.json', /never a host or port/],
    ['CIMD_DENY', 'foo*.com', /bad client pattern/],
  ])('%s=%s stops startup naming the variable and the pattern', (name, pattern, why) => {
    let error: unknown;
    try {
      parseEnv({ [name]: `known, ${pattern}` });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as Error).message.startsWith(`${name}: `)).toBe(true);
    expect((error as Error).message).toContain(JSON.stringify(pattern));
    expect((error as Error).message).toMatch(why);
  });
});

describe('CIMD_TRANSPORT_FALLBACK_S', () => {
  test.each([
    [undefined, 0],
    ['', 0],
    ['0', 0],
    ['3600', 3600],
    ['604800', 604800],
  ])('%j → %d seconds', (value, seconds) => {
    expect(parseEnv(value === undefined ? {} : { CIMD_TRANSPORT_FALLBACK_S: value }).transportFallbackS).toBe(seconds);
  });

  test.each(['604801', '-1', '1.5', '10s', 'off'])('%j stops startup naming the variable', (value) => {
    expect(() => parseEnv({ CIMD_TRANSPORT_FALLBACK_S: value })).toThrow(EnvError);
    expect(() => parseEnv({ CIMD_TRANSPORT_FALLBACK_S: value })).toThrow(/^CIMD_TRANSPORT_FALLBACK_S must be .*7 days/);
  });
});
