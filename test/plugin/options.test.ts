/**
 * Options are validated at createCimd (one table, plugin/options.ts): an unknown key or a wrong type throws a
 * CimdOptionError (a TypeError with `code: 'CIMD_INVALID_OPTION'`) naming the option, nested options included,
 * with the closest known name for a misspelling. A second configure() says that is what happened. cimd check
 * validates through the same table.
 */

import { type CimdOptionError, createCimd } from 'oidc-provider-cimd';
import { checkClientId, checkDocument } from 'oidc-provider-cimd/check';

/** The error createCimd throws for `options`, or a failure when it does not throw. */
function refusal(run: () => unknown): CimdOptionError {
  try {
    run();
  } catch (error) {
    return error as CimdOptionError;
  }
  throw new Error('expected a CimdOptionError, nothing was thrown');
}

const make = (options: unknown) => () => createCimd(options as never);

describe('unknown options', () => {
  test.each([
    ['timeoutMS', 'timeoutMs'],
    ['allowLoopBack', 'allowLoopback'],
    ['memoryCachesize', 'memoryCacheSize'],
    ['failureBackofMs', 'failureBackoffMs'],
    ['requireClientNmae', 'requireClientName'],
  ])('%s is refused, naming it and suggesting %s', (given, meant) => {
    const error = refusal(make({ [given]: 1 }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('CIMD_INVALID_OPTION');
    expect(error.option).toBe(given);
    expect(error.message).toContain(`unknown option "${given}"`);
    expect(error.message).toContain(`did you mean "${meant}"?`);
  });

  test('a name close to nothing gets no suggestion, but the list of known options', () => {
    const error = refusal(make({ frobnicate: true }));
    expect(error.message).toContain('unknown option "frobnicate"');
    expect(error.message).not.toContain('did you mean');
    expect(error.message).toContain('timeoutMs');
  });

  test.each([
    [{ policy: { alow: ['https://app.example.com/c.json'] } }, 'policy.alow', 'policy.allow'],
    [{ budget: { perHostBurts: 3 } }, 'budget.perHostBurts', 'budget.perHostBurst'],
    [{ lifetime: { maxSecond: 10 } }, 'lifetime.maxSecond', 'lifetime.maxSeconds'],
    [{ consent: { loopbak: 'once' } }, 'consent.loopbak', 'consent.loopback'],
    [{ consent: { logo: { maxByte: 10 } } }, 'consent.logo.maxByte', 'consent.logo.maxBytes'],
    [{ consent: { newClient: { minUser: 2 } } }, 'consent.newClient.minUser', 'consent.newClient.minUsers'],
  ])('nested: %j is refused as %s', (options, path, meant) => {
    const error = refusal(make(options));
    expect(error.code).toBe('CIMD_INVALID_OPTION');
    expect(error.option).toBe(path);
    expect(error.message).toContain(`unknown option "${path}" (did you mean "${meant}"?)`);
  });
});

describe('wrong types', () => {
  test.each([
    [{ timeoutMs: '5000' }, 'timeoutMs', /must be a positive number of milliseconds, got the string "5000"/],
    [{ timeoutMs: -1 }, 'timeoutMs', /positive number of milliseconds, got number -1/],
    [{ allowLoopback: 'yes' }, 'allowLoopback', /must be a boolean/],
    [{ issuer: 'not a url' }, 'issuer', /must be an absolute URL/],
    [{ allowedPorts: [443, 70000] }, 'allowedPorts', /TCP ports/],
    [{ denyList: '10.0.0.0/8' }, 'denyList', /must be an array of strings/],
    [{ cache: new Map() }, 'cache', /must be a Keyv instance/],
    [{ onEvent: 'log' }, 'onEvent', /must be a function/],
    [{ memoryCacheSize: 1.5 }, 'memoryCacheSize', /must be a positive integer/],
    [{ lifetime: 60 }, 'lifetime', /must be an object/],
    [{ policy: { allow: 'example.com' } }, 'policy.allow', /must be an array of strings/],
    [{ policy: { decide: true } }, 'policy.decide', /must be a function/],
    [{ budget: { maxConcurrent: 0 } }, 'budget.maxConcurrent', /must be a positive integer/],
    [{ lifetime: { minSeconds: '60' } }, 'lifetime.minSeconds', /number of seconds/],
    [{ consent: { loopback: 'never' } }, 'consent.loopback', /must be "always" or "once"/],
    [{ consent: { newClient: true } }, 'consent.newClient', /must be false or an object/],
    [{ consent: { logo: { maxBytes: '64k' } } }, 'consent.logo.maxBytes', /must be a positive integer/],
    [{ consent: { changedClient: 'yes' } }, 'consent.changedClient', /must be a boolean/],
  ])('%j is refused, naming %s and the expected type', (options, path, message) => {
    const error = refusal(make(options));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.name).toBe('CimdOptionError');
    expect(error.code).toBe('CIMD_INVALID_OPTION');
    expect(error.option).toBe(path);
    expect(error.message).toContain(`option ${path} must be`);
    expect(error.message).toMatch(message);
  });

  test('options that must be an object', () => {
    expect(refusal(make(null)).message).toMatch(/options must be an object, got null/);
    expect(refusal(make(['issuer'])).message).toMatch(/options must be an object, got an array/);
  });
});

describe('startup checks', () => {
  test('allowLoopback needs an issuer, and a loopback one', () => {
    const none = refusal(make({ allowLoopback: true }));
    expect(none.code).toBe('CIMD_INVALID_OPTION');
    expect(none.option).toBe('allowLoopback');
    expect(none.message).toMatch(/needs the `issuer` option/);
    const remote = refusal(make({ allowLoopback: true, issuer: 'https://as.example.com' }));
    expect(remote.message).toMatch(/only honoured with a loopback issuer/);
  });

  test('lifetime bounds the wrong way round', () => {
    const error = refusal(make({ lifetime: { minSeconds: 600, maxSeconds: 60 } }));
    expect(error.option).toBe('lifetime.minSeconds');
    expect(error.message).toMatch(/exceeds lifetime.maxSeconds/);
  });
});

describe('what is accepted', () => {
  test('every documented option with a value of the right type, undefined meaning absent', async () => {
    const plugin = createCimd({
      enabled: true,
      issuer: 'http://localhost:3000',
      allowLoopback: true,
      allowRootPath: false,
      allowQuery: false,
      allowedPorts: [443, 8443],
      denyList: ['10.0.0.0/8'],
      connectTimeoutMs: 1000,
      timeoutMs: 2000,
      maxBodyBytes: 4096,
      acceptTextPlain: false,
      requireClientName: true,
      memoryCacheSize: 10,
      sharedCacheTimeoutMs: 100,
      fetchLock: true,
      lifetime: { minSeconds: 0, maxSeconds: 3600 },
      failureBackoffMs: 0,
      redirectRefetchAfterMs: 0,
      policy: { allow: ['https://app.example.com/c.json'], deny: [] },
      budget: { perHostBurst: 5, perHostPerSecond: 0.5, maxConcurrent: 4 },
      onEvent: () => {},
      guardProviderFetch: true,
      now: Date.now,
      consent: { loopback: 'once', newClient: false, logo: { maxBytes: 1024 }, trusted: ['example.com'] },
      extraGrantTypes: ['urn:example:grant'],
      ca: undefined,
    });
    expect(plugin.enabled).toBe(true);
    await plugin.close();
  });
});

describe('configure() twice', () => {
  test('the second call says configure() was already called (with a stable code)', async () => {
    const plugin = createCimd({ issuer: 'https://as.example.com' });
    const configuration = plugin.configure({});
    // What a user typically does by mistake: hand the result back in (it carries the guarded fetch hook).
    const error = refusal(() => plugin.configure(configuration));
    expect(error.code).toBe('CIMD_ALREADY_CONFIGURED');
    expect(error.message).toMatch(/configure\(\) was already called/);
    expect(error.message).not.toMatch(/brings its own fetch/);
    expect(refusal(() => plugin.configure({})).code).toBe('CIMD_ALREADY_CONFIGURED');
    await plugin.close();
  });

  test('a configure() that failed can be retried with a fixed configuration', async () => {
    const plugin = createCimd({ issuer: 'https://as.example.com' });
    const error = refusal(() => plugin.configure({ clientAuthMethods: ['client_secret_basic'] }));
    expect(error.code).toBe('CIMD_INVALID_CONFIGURATION');
    expect(() => plugin.configure({})).not.toThrow();
    await plugin.close();
  });
});

describe('cimd check validates through the same table', () => {
  test('a misspelt or mistyped option of checkClientId / checkDocument throws before any network activity', async () => {
    const cid = 'https://app.example.com/c.json';
    await expect(checkClientId(cid, { timeoutMS: 100 } as never)).rejects.toMatchObject({
      code: 'CIMD_INVALID_OPTION',
      option: 'timeoutMS',
      message: expect.stringContaining('did you mean "timeoutMs"?'),
    });
    await expect(checkClientId(cid, { maxBodyBytes: '5k' } as never)).rejects.toMatchObject({
      code: 'CIMD_INVALID_OPTION',
      option: 'maxBodyBytes',
    });
    expect(() => checkDocument('{}', { lifetime: { minSecond: 1 } } as never)).toThrow(
      /unknown option "lifetime.minSecond" \(did you mean "lifetime.minSeconds"\?\)/,
    );
    expect(() => checkDocument('{}', { allowLoopback: true, issuer: 'https://as.example.com' })).toThrow(
      /only honoured with a loopback issuer/,
    );
  });
});
