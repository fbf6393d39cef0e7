import { EnvError, parseEnv, resolveIssuer } from '../../examples/koa-server/src/env.js';

describe('example environment', () => {
  it('has working defaults', () => {
    const env = parseEnv({});
    expect(env).toEqual({
      port: 3000,
      issuer: undefined,
      redisUrl: undefined,
      cimdEnabled: true,
      dcrEnabled: true,
      allowLoopback: false,
      extraCaPath: undefined,
      admission: 'open',
      allow: [],
      deny: [],
      transportFallbackS: 0,
      metrics: false,
      logLevel: 'info',
    });
    expect(resolveIssuer(env, 3000)).toBe('http://localhost:3000');
  });

  it('reads every variable', () => {
    const env = parseEnv({
      PORT: '0',
      ISSUER: 'https://auth.example.com/',
      REDIS_URL: 'redis://127.0.0.1:6379',
      CIMD_ENABLED: 'false',
      DCR_ENABLED: '0',
      CIMD_ALLOW_LOOPBACK: 'TRUE',
      CIMD_EXTRA_CA: '/tmp/ca.pem',
      CIMD_ALLOW: ' *.claude.ai, vscode.dev ,',
      CIMD_DENY: 'https://evil.com/c.json',
      METRICS: 'on',
      LOG_LEVEL: 'Debug',
    });
    expect(env).toEqual({
      port: 0,
      issuer: 'https://auth.example.com',
      redisUrl: 'redis://127.0.0.1:6379',
      cimdEnabled: false,
      dcrEnabled: false,
      allowLoopback: true,
      extraCaPath: '/tmp/ca.pem',
      admission: 'allowlist',
      allow: ['*.claude.ai', 'vscode.dev'],
      deny: ['https://evil.com/c.json'],
      transportFallbackS: 0,
      metrics: true,
      logLevel: 'debug',
    });
    expect(resolveIssuer(env, 1234)).toBe('https://auth.example.com');
  });

  it.each([
    [{ CIMD_ENABLED: 'maybe' }, /CIMD_ENABLED/],
    [{ DCR_ENABLED: 'enabled' }, /DCR_ENABLED/],
    [{ CIMD_ALLOW_LOOPBACK: 'y' }, /CIMD_ALLOW_LOOPBACK/],
    [{ METRICS: 'sometimes' }, /METRICS/],
    [{ LOG_LEVEL: 'verbose' }, /LOG_LEVEL must be one of debug, info, warn, error/],
    [{ PORT: '80a' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ ISSUER: 'auth.example.com' }, /ISSUER/],
    [{ ISSUER: 'https://auth.example.com/oidc' }, /ISSUER .*no path/],
    [
      { REDIS_URL: 'localhost:6379' },
      /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL; the value given starts with localhost:/,
    ],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL; the value given is not a URL$/],
    [{ REDIS_URL: 'http://user:secret@cache:6379' }, /^REDIS_URL must be .*starts with http:\/\/$/],
  ])('rejects %j', (source, message) => {
    expect(() => parseEnv(source)).toThrow(EnvError);
    expect(() => parseEnv(source)).toThrow(message);
  });
});
