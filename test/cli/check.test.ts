/**
 * `cimd check`: the server's own rules on a URL (through the guarded fetcher, against a local HTTPS document
 * server) or on a file, each reported as pass / warning / failure with the reason code and a fix; the client as
 * the provider would see it; every exit code; JSON that parses.
 */
import type { CheckItem, CheckReport } from 'oidc-provider-cimd/check';
import { cimd, clientDoc, type DocServer, startDocServer, tempDir } from './support.js';

let docs: DocServer;
let tmp: Awaited<ReturnType<typeof tempDir>>;
/** Options every check of the local document server needs: the development exception and the test CA. */
let local: string[];

beforeAll(async () => {
  docs = await startDocServer();
  tmp = await tempDir();
  local = ['--allow-loopback', '--ca', tmp.ca];
});
afterAll(async () => {
  await docs.close();
  tmp.cleanup();
});

const item = (report: CheckReport, id: string): CheckItem | undefined => report.checks.find((check) => check.id === id);
const failures = (report: CheckReport) => report.checks.filter((check) => check.status === 'fail');
const warnings = (report: CheckReport) => report.checks.filter((check) => check.status === 'warn').map((c) => c.id);

describe('a good document', () => {
  test('is accepted: exit 0, human report with every stage, the client as the provider sees it', async () => {
    const cid = docs.route('/good.json', {
      body: clientDoc(docs.cid('/good.json'), { scope: 'openid offline_access profile' }),
      headers: { 'cache-control': 'public, max-age=3600', etag: '"v1"' },
    });
    const run = await cimd(['check', cid, ...local]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout;
    expect(out).toContain(`cimd check ${cid}`);
    expect(out).toMatch(/✓ url\s+all 19 rules pass/);
    expect(out).toMatch(/✓ fetch\s+200, application\/json, \d+ bytes/);
    expect(out).toMatch(/✓ cache\s+cached for 1 h; revalidates with ETag/);
    expect(out).toMatch(/✓ document\s+all \d+ rules pass/);
    expect(out).toMatch(/auth method\s+none/);
    expect(out).toMatch(/scope\s+openid, offline_access {2}\(dropped: profile\)/);
    expect(out).toContain('ACCEPTED');
    // Not a terminal: no colour, no progress.
    expect(out).not.toContain('\x1b[');
  });

  test('--json prints the same report as JSON that parses', async () => {
    const cid = docs.route('/json.json', {
      body: clientDoc(docs.cid('/json.json')),
      headers: { 'cache-control': 'max-age=600', 'last-modified': 'Wed, 21 Oct 2025 07:28:00 GMT' },
    });
    const run = await cimd(['check', cid, ...local, '--json']);
    expect(run.code).toBe(0);
    const report = run.json<CheckReport>();
    expect(report).toMatchObject({ clientId: cid, source: 'url', accepted: true, issuer: 'http://localhost' });
    expect(report.response).toMatchObject({
      status: 200,
      contentType: 'application/json',
      cache: {
        store: true,
        freshForSeconds: 600,
        requestedSeconds: 600,
        lastModified: 'Wed, 21 Oct 2025 07:28:00 GMT',
      },
    });
    expect(report.client).toMatchObject({
      clientName: 'Test App',
      applicationType: 'web',
      tokenEndpointAuthMethod: 'none',
      grantTypes: { kept: ['authorization_code', 'refresh_token'], dropped: [] },
      loopbackOnly: false,
    });
    expect(report.checks.every((check) => ['pass', 'warn', 'fail', 'skip'].includes(check.status))).toBe(true);
    expect(failures(report)).toEqual([]);
    expect(item(report, 'url:canonical')?.status).toBe('pass');
    expect(item(report, 'document:client_id')?.status).toBe('pass');
  });

  test('colour only on a terminal, and progress on stderr only there', async () => {
    const cid = docs.route('/tty.json', { body: clientDoc(docs.cid('/tty.json')) });
    const tty = await cimd(['check', cid, ...local], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain('\x1b[');
    expect(tty.stderr).toContain('fetching');
    const noColour = await cimd(['check', cid, ...local], { tty: true, env: { NO_COLOR: '1' } });
    expect(noColour.stdout).not.toContain('\x1b[');
    const json = await cimd(['check', cid, ...local, '--json'], { tty: true });
    expect(() => json.json()).not.toThrow();
  });

  test('--verbose lists every rule', async () => {
    const cid = docs.route('/verbose.json', { body: clientDoc(docs.cid('/verbose.json')) });
    const run = await cimd(['check', cid, ...local, '--verbose']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/✓ url\s+canonical form/);
    expect(run.stdout).toMatch(/✓ document\s+client_name present/);
    expect(run.stdout).toMatch(/✓ fetch\s+status 200/);
  });
});

describe('URL rules, before any network activity', () => {
  test.each([
    ['root path', (origin: string) => `${origin}/`, 'root_path'],
    ['query', (origin: string) => `${origin}/c.json?v=1`, 'query'],
    ['fragment', (origin: string) => `${origin}/c.json#x`, 'fragment'],
    ['not canonical (explicit default port)', () => 'https://app.example.com:443/c.json', 'canonical'],
    ['plain http', () => 'http://app.example.com/c.json', 'scheme'],
    ['special-use host', () => 'https://app.test/c.json', 'special_use_host'],
  ])('%s → exit 1, rejected:url with the rule, no request made', async (_name, make, rule) => {
    const before = docs.totalHits;
    const run = await cimd(['check', make(docs.url), ...local, '--json']);
    expect(run.code).toBe(1);
    const report = run.json<CheckReport>();
    expect(report.accepted).toBe(false);
    expect(report.rejection).toMatchObject({ code: 'rejected:url', rule });
    expect(item(report, `url:${rule}`)).toMatchObject({ status: 'fail', code: 'rejected:url', rule });
    expect(item(report, `url:${rule}`)?.fix).toBeTruthy();
    expect(item(report, 'fetch:not_checked')?.status).toBe('skip');
    expect(docs.totalHits).toBe(before);
  });

  test('a loopback client_id without the development exception is an IP literal, not fetched', async () => {
    const before = docs.totalHits;
    const run = await cimd(['check', docs.cid('/good.json'), '--ca', tmp.ca]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /✗ url\s+client_id URL host must be a domain name, not an IP address\s+\[rejected:url ip_literal\]/,
    );
    expect(run.stdout).toContain('→ use a DNS name for the host');
    expect(run.stdout).toContain('REJECTED rejected:url (ip_literal)');
    expect(docs.totalHits).toBe(before);
  });

  test('the canonical-form fix names the canonical URL', async () => {
    const run = await cimd(['check', 'https://App.Example.com/c.json', '--json']);
    expect(item(run.json<CheckReport>(), 'url:canonical')?.fix).toBe(
      'use the canonical form https://app.example.com/c.json',
    );
  });

  test('--issuer: a client_id on the issuer origin is refused', async () => {
    const run = await cimd([
      'check',
      'https://as.example.com/clients/a.json',
      '--issuer',
      'https://as.example.com',
      '--json',
    ]);
    expect(run.code).toBe(1);
    expect(run.json<CheckReport>().rejection).toMatchObject({ code: 'rejected:url', rule: 'own_origin' });
  });
});

describe('fetch failures, reported as the server classifies them', () => {
  test.each([
    ['404', { status: 404, body: clientDoc('x') }, 'fetch:status', 'rejected:status', /status 200/],
    [
      'redirect',
      { status: 302, headers: { location: '/elsewhere' } },
      'fetch:status',
      'rejected:status',
      /redirects are never followed/,
    ],
    [
      'HTML (bot protection)',
      { headers: { 'content-type': 'text/html' }, body: '<html>checking your browser</html>' },
      'fetch:content_type',
      'rejected:content_type',
      /application\/json/,
    ],
    [
      'gzip',
      { headers: { 'content-encoding': 'gzip' }, body: 'xx' },
      'fetch:encoding',
      'rejected:encoding',
      /uncompressed/,
    ],
    ['too big', { body: JSON.stringify({ pad: 'x'.repeat(6000) }) }, 'fetch:size', 'rejected:size', /5120 bytes/],
  ])('%s', async (name, spec, id, code, fix) => {
    const cid = docs.route(`/fail-${name.replace(/\W+/g, '-')}.json`, spec);
    const run = await cimd(['check', cid, ...local, '--json']);
    expect(run.code).toBe(1);
    const report = run.json<CheckReport>();
    expect(report.rejection).toMatchObject({ code, publicMessage: 'client metadata document could not be retrieved' });
    expect(item(report, id)).toMatchObject({ status: 'fail', code });
    expect(item(report, id)?.fix).toMatch(fix);
    // The steps before the failing one passed; the document was never looked at.
    expect(item(report, 'fetch:connect')?.status).toBe('pass');
    expect(item(report, 'document:not_checked')?.status).toBe('skip');
  });

  test('TLS is verified: without --ca the test certificate is refused', async () => {
    const cid = docs.route('/tls.json', { body: clientDoc(docs.cid('/tls.json')) });
    const run = await cimd(['check', cid, '--allow-loopback', '--json']);
    expect(run.code).toBe(1);
    expect(item(run.json<CheckReport>(), 'fetch:connect')).toMatchObject({ status: 'fail', code: 'rejected:network' });
  });
});

describe('document rules', () => {
  test('every problem at once, each with its reason code and fix', async () => {
    const cid = docs.cid('/bad.json');
    docs.route('/bad.json', {
      body: {
        client_id: cid,
        client_secret: 'hunter2',
        token_endpoint_auth_method: 'client_secret_basic',
        logo_uri: 'http://app.example.com/logo.png',
        redirect_uris: ['http://app.example.com/cb', 'https://app.example.com/cb'],
      },
    });
    const run = await cimd(['check', cid, ...local, '--json']);
    expect(run.code).toBe(1);
    const report = run.json<CheckReport>();
    // The first failure is what the server reports.
    expect(report.rejection).toMatchObject({ code: 'rejected:secret', rule: 'client_secret' });
    const found = failures(report).map((check) => [check.id, check.code]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['document:client_secret', 'rejected:secret'],
        ['document:token_endpoint_auth_method', 'rejected:secret'],
        ['document:client_name', 'rejected:document'],
        ['document:logo_uri', 'rejected:document'],
        ['document:redirect_uris', 'rejected:document'],
      ]),
    );
    expect(item(report, 'document:redirect_uris')?.message).toMatch(/^http:\/\/app\.example\.com\/cb: /);
    for (const failure of failures(report)) expect(failure.fix).toBeTruthy();
    // Rules that passed on the repaired copy pass; no client is shown for a rejected document.
    expect(item(report, 'document:client_id')?.status).toBe('pass');
    expect(report.client).toBeUndefined();

    const human = await cimd(['check', cid, ...local]);
    expect(human.stdout).toMatch(/✗ document\s+client_secret must not be present\s+\[rejected:secret client_secret\]/);
    expect(human.stdout).toContain('→ add "client_name": "<your application name>"');
    expect(human.stdout).toContain(
      'REJECTED rejected:secret (client_secret); users see "client metadata document is invalid: client_secret"',
    );
  });

  test('client_id that differs from the URL', async () => {
    const cid = docs.route('/mismatch.json', { body: clientDoc('https://other.example.com/c.json') });
    const run = await cimd(['check', cid, ...local, '--json']);
    expect(run.code).toBe(1);
    const failure = item(run.json<CheckReport>(), 'document:client_id');
    expect(failure).toMatchObject({ status: 'fail', code: 'rejected:client_id_mismatch' });
    expect(failure?.fix).toBe(`set "client_id" to exactly ${JSON.stringify(cid)}`);
  });

  test('duplicate member names stop the rules (nothing else can be judged)', async () => {
    const cid = docs.cid('/dup.json');
    docs.route('/dup.json', { body: `{"client_id":"${cid}","client_name":"a","client_name":"b"}` });
    const report = (await cimd(['check', cid, ...local, '--json'])).json<CheckReport>();
    expect(report.rejection).toMatchObject({ code: 'rejected:json', rule: 'duplicate_member' });
    expect(item(report, 'document:client_name')?.status).toBe('skip');
  });
});

describe('warnings', () => {
  test('no cache headers, loopback-only client, dropped grant types and scopes', async () => {
    const cid = docs.route('/warn.json', {
      body: clientDoc(docs.cid('/warn.json'), {
        redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        scope: 'openid mcp:tools',
      }),
    });
    const run = await cimd(['check', cid, ...local, '--json']);
    expect(run.code).toBe(0);
    const report = run.json<CheckReport>();
    expect(warnings(report)).toEqual(
      expect.arrayContaining([
        'cache:lifetime',
        'cache:validators',
        'client:loopback_only',
        'client:grant_types',
        'client:scope',
      ]),
    );
    expect(item(report, 'cache:lifetime')?.message).toContain('cached for 5 min (the default)');
    expect(report.client).toMatchObject({
      applicationType: 'native',
      applicationTypeInferred: true,
      loopbackOnly: true,
      grantTypes: { kept: ['authorization_code'], dropped: ['urn:ietf:params:oauth:grant-type:device_code'] },
      scope: { kept: ['openid'], dropped: ['mcp:tools'] },
    });
    const human = await cimd(['check', cid, ...local]);
    expect(human.stdout).toMatch(/! client\s+every redirect URI is loopback/);
    expect(human.stdout).toContain('ACCEPTED the server would accept this client (5 warnings)');
  });

  test.each([
    ['max-age=10', 'raised to 1 min', 60],
    ['max-age=604800', 'capped at 1 d', 86_400],
    ['no-store', 'never cached', 300],
    ['no-cache', 'raised to 1 min', 60],
  ])('Cache-Control: %s', async (header, message, fresh) => {
    const path = `/cc-${header.replace(/\W+/g, '-')}.json`;
    const cid = docs.route(path, { body: clientDoc(docs.cid(path)), headers: { 'cache-control': header } });
    const report = (await cimd(['check', cid, ...local, '--json'])).json<CheckReport>();
    expect(report.accepted).toBe(true);
    expect(item(report, 'cache:lifetime')).toMatchObject({ status: 'warn' });
    expect(item(report, 'cache:lifetime')?.message).toContain(message);
    expect(report.response?.cache.freshForSeconds).toBe(fresh);
  });
});

describe('--redirect-uri', () => {
  test('a registered URI, and a loopback URI on another port for a native client, are accepted', async () => {
    const cid = docs.route('/native.json', {
      body: clientDoc(docs.cid('/native.json'), { redirect_uris: ['http://127.0.0.1/callback'] }),
    });
    const exact = await cimd(['check', cid, ...local, '--redirect-uri', 'http://127.0.0.1/callback', '--json']);
    expect(exact.code).toBe(0);
    expect(exact.json<CheckReport>().redirectUri).toEqual({ uri: 'http://127.0.0.1/callback', accepted: true });
    const port = await cimd(['check', cid, ...local, '--redirect-uri', 'http://127.0.0.1:51234/callback']);
    expect(port.code).toBe(0);
    expect(port.stdout).toMatch(/✓ redirect\s+http:\/\/127\.0\.0\.1:51234\/callback matches a loopback redirect URI/);
  });

  test('an unregistered URI: exit 1, with the fix', async () => {
    const cid = docs.route('/web.json', { body: clientDoc(docs.cid('/web.json')) });
    const run = await cimd(['check', cid, ...local, '--redirect-uri', 'https://app.example.com/other', '--json']);
    expect(run.code).toBe(1);
    const report = run.json<CheckReport>();
    expect(report.redirectUri).toEqual({ uri: 'https://app.example.com/other', accepted: false });
    expect(item(report, 'redirect_uri:match')).toMatchObject({ status: 'fail' });
    expect(report.client).toBeDefined();
  });
});

describe('a local file (document rules only, no network)', () => {
  test('with --client-id: the URL rules on the id and the document rules on the file', async () => {
    const cid = 'https://app.example.com/oauth/client.json';
    const file = tmp.write('client.json', JSON.stringify(clientDoc(cid)));
    const run = await cimd(['check', file, '--client-id', cid, '--json']);
    expect(run.code).toBe(0);
    const report = run.json<CheckReport>();
    expect(report).toMatchObject({
      clientId: cid,
      source: 'file',
      accepted: true,
      issuer: 'https://authorization-server.invalid',
    });
    expect(report.response).toBeUndefined();
    expect(item(report, 'fetch:not_checked')?.status).toBe('skip');
    // Relative paths are resolved against the working directory.
    const relative = await cimd(['check', 'client.json', '--client-id', cid], { cwd: tmp.dir });
    expect(relative.code).toBe(0);
    expect(relative.stdout).toContain('local document');
  });

  test('a file served from another URL is a client_id mismatch', async () => {
    const file = tmp.write('other.json', JSON.stringify(clientDoc('https://app.example.com/a.json')));
    const run = await cimd(['check', file, '--client-id', 'https://app.example.com/b.json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/✗ document\s+client_id does not match the URL/);
  });

  test("without --client-id the document's own client_id is used, with a warning", async () => {
    const file = tmp.write('own.json', JSON.stringify(clientDoc('https://app.example.com/own.json')));
    const report = (await cimd(['check', file, '--json'])).json<CheckReport>();
    expect(report.accepted).toBe(true);
    expect(report.clientId).toBe('https://app.example.com/own.json');
    expect(warnings(report)).toContain('document:client_id_source');
  });

  test('--server-metadata: checked against what the server advertises', async () => {
    // A grant a user takes part in (grants without a user, such as client_credentials, are never given to a CIMD
    // client by default, whatever the server supports).
    const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
    const cid = 'https://app.example.com/cc.json';
    const file = tmp.write(
      'cc.json',
      JSON.stringify(clientDoc(cid, { grant_types: ['authorization_code', DEVICE_CODE], scope: 'openid mcp' })),
    );
    const defaults = (await cimd(['check', file, '--client-id', cid, '--json'])).json<CheckReport>();
    expect(defaults.client?.grantTypes.dropped).toEqual([DEVICE_CODE]);
    const metadata = tmp.write(
      'server.json',
      JSON.stringify({
        issuer: 'https://as.example.com',
        grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_CODE],
        response_types_supported: ['code'],
        scopes_supported: ['openid', 'mcp'],
        token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
      }),
    );
    const run = await cimd(['check', file, '--client-id', cid, '--server-metadata', metadata, '--json']);
    const report = run.json<CheckReport>();
    expect(report.issuer).toBe('https://as.example.com');
    expect(report.client?.grantTypes).toEqual({ kept: ['authorization_code', DEVICE_CODE], dropped: [] });
    expect(report.client?.scope).toEqual({ kept: ['openid', 'mcp'], dropped: [] });
  });
});

describe('--server-metadata by URL', () => {
  test('an issuer URL: its RFC 8414 document, else its OpenID discovery document', async () => {
    const cid = 'https://app.example.com/sm.json';
    const file = tmp.write('sm.json', JSON.stringify(clientDoc(cid, { scope: 'openid mcp' })));
    docs.route('/tenant/.well-known/openid-configuration', {
      body: {
        issuer: `${docs.url}/tenant`,
        scopes_supported: ['openid', 'mcp'],
        response_types_supported: ['code'],
        token_endpoint_auth_methods_supported: ['none'],
      },
    });
    const run = await cimd([
      'check',
      file,
      '--client-id',
      cid,
      '--server-metadata',
      `${docs.url}/tenant`,
      '--ca',
      tmp.ca,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const report = run.json<CheckReport>();
    expect(report.issuer).toBe(`${docs.url}/tenant`);
    expect(report.client?.scope).toEqual({ kept: ['openid', 'mcp'], dropped: [] });
    expect(docs.hits('/.well-known/oauth-authorization-server/tenant')).toBe(1);

    const missing = await cimd(['check', file, '--server-metadata', `${docs.url}/nothing`, '--ca', tmp.ca]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read the server metadata');
  });
});

describe('usage errors exit 2', () => {
  test.each([
    [[], /Usage: cimd <command>/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['check'], /takes one URL or file, got 0/],
    [['check', 'a.json', 'b.json'], /takes one URL or file, got 2/],
    [['check', 'https://app.example.com/c.json', '--nope'], /Unknown option '--nope'/],
    [
      ['check', 'https://app.example.com/c.json', '--client-id', 'https://x.example.com/c'],
      /--client-id is for checking a file/,
    ],
    [
      ['check', 'https://app.example.com/c.json', '--allow-loopback', '--issuer', 'https://as.example.com'],
      /loopback issuer/,
    ],
    [['check', '/nonexistent/cimd/doc.json'], /cannot read file \/nonexistent\/cimd\/doc.json \(ENOENT\)/],
    [['check', 'https://app.example.com/c.json', '--ca', '/nonexistent/ca.pem'], /cannot read certificate file/],
    [['check', 'https://app.example.com/c.json', '--issuer', 'not a url'], /--issuer not a url is not a URL/],
    [['check', 'https://app.example.com/c.json', '--redis', 'redis://x'], /Unknown option '--redis'/],
  ])('cimd %j', async (argv, message) => {
    const run = await cimd(argv as string[]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  test('--help and --version exit 0', async () => {
    const help = await cimd(['check', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: cimd check <url | file>');
    const top = await cimd(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('pin <client_id>');
    const version = await cimd(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
