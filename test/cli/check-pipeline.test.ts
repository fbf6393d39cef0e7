/**
 * `check` walks the pipeline the server runs: the fetcher's own ordered steps (fetch/steps.ts), the one
 * catalogue of rule ids (core/catalogue.ts, `contacts` included), failures placed by the structured data of the
 * error (never its message), and the JWK Set at `jwks_uri` fetched once through the same guarded fetcher.
 */
import { generateKeyPairSync } from 'node:crypto';
import { CimdError, Reason } from 'oidc-provider-cimd';
import {
  type CheckItem,
  type CheckReport,
  capabilitiesFromServerMetadata,
  checkClientId,
  DOCUMENT_RULES,
  FETCH_STEPS,
  URL_RULES,
} from 'oidc-provider-cimd/check';
import { createFetcher } from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { createAddressPolicy } from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { createUrlRules } from '../../packages/oidc-provider-cimd/src/rules/client-id-url.js';
import { validateDocument } from '../../packages/oidc-provider-cimd/src/rules/document.js';
import { getTestCertificate } from '../helpers/certs.js';
import { cimd, clientDoc, type DocServer, startDocServer, tempDir } from './support.js';

let docs: DocServer;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let local: string[];

beforeAll(async () => {
  docs = await startDocServer();
  tmp = await tempDir();
  local = ['--allow-loopback', '--ca', tmp.ca];
  testCa = (await getTestCertificate()).cert;
});
afterAll(async () => {
  await docs.close();
  tmp.cleanup();
});

/** The guarded fetcher as the plugin builds it (loopback allowed, the test CA trusted). */
let testCa: string;
const createFetcherForTest = () =>
  createFetcher({ addressPolicy: createAddressPolicy({ allowLoopback: true }), ca: testCa });

const item = (report: CheckReport, id: string): CheckItem | undefined => report.checks.find((check) => check.id === id);
const stage = (report: CheckReport, name: string) => report.checks.filter((check) => check.stage === name);
const check = async (cid: string, extra: string[] = []): Promise<CheckReport> =>
  (await cimd(['check', cid, ...local, ...extra, '--json'])).json<CheckReport>();

/** The order the fetcher applies its steps in (draft-03 §5; RFC 9110 for status, coding and media type). */
const ORDER = ['connect', 'status', 'encoding', 'content_type', 'size'];

describe("the fetch steps, in the fetcher's order", () => {
  test('the fetcher exposes its steps in this order, and the report lists them in the same order', async () => {
    expect(FETCH_STEPS.map((step) => step.id)).toEqual(ORDER);
    const cid = docs.route('/order-ok.json', { body: clientDoc(docs.cid('/order-ok.json')) });
    const report = await check(cid);
    expect(stage(report, 'fetch').map((entry) => entry.id)).toEqual(ORDER.map((step) => `fetch:${step}`));
    expect(stage(report, 'fetch').every((entry) => entry.status === 'pass')).toBe(true);
  });

  // Each response fails several steps at once; the one reported is the first the fetcher checks, the steps
  // before it passed and the ones after it were never reached.
  test.each([
    [
      'status before encoding, content type and size',
      {
        status: 404,
        headers: { 'content-encoding': 'gzip', 'content-type': 'text/html', 'content-length': '9999' },
        body: 'x'.repeat(9999),
      },
      'status',
      Reason.RejectedStatus,
    ],
    [
      'encoding before content type and size',
      { headers: { 'content-encoding': 'gzip', 'content-type': 'text/html' }, body: 'x'.repeat(6000) },
      'encoding',
      Reason.RejectedEncoding,
    ],
    [
      'content type before size',
      { headers: { 'content-type': 'text/html' }, body: 'x'.repeat(6000) },
      'content_type',
      Reason.RejectedContentType,
    ],
  ])('%s', async (name, spec, failed, code) => {
    const cid = docs.route(`/order-${name.replace(/\W+/g, '-')}.json`, spec);
    const report = await check(cid);
    expect(report.accepted).toBe(false);
    expect(report.rejection).toMatchObject({ stage: 'fetch', code });
    const index = ORDER.indexOf(failed);
    expect(stage(report, 'fetch').map((entry) => [entry.id, entry.status])).toEqual(
      ORDER.map((step, at) => [`fetch:${step}`, at < index ? 'pass' : at === index ? 'fail' : 'skip']),
    );
    expect(item(report, `fetch:${failed}`)).toMatchObject({ status: 'fail', code });
  });
});

describe('failures are placed by structured data, never by message text', () => {
  test("a redirect is recognised from the response's status, whatever the message says", async () => {
    const redirected = new CimdError(Reason.RejectedStatus, 'the upstream said no', {
      response: { status: 302, mediaType: undefined },
      details: { step: 'status' },
    });
    const fetcher = {
      fetchDocument: () => Promise.reject(redirected),
      get: () => Promise.reject(redirected),
      fetch: () => Promise.reject(redirected),
      close: async () => {},
    };
    const report = await checkClientId('https://app.example.com/c.json', { fetcher });
    expect(item(report, 'fetch:status')).toMatchObject({
      status: 'fail',
      code: 'rejected:status',
      message: 'the upstream said no',
      fix: expect.stringMatching(/redirects are never followed/),
    });
    expect(item(report, 'fetch:connect')?.status).toBe('pass');
    expect(item(report, 'fetch:encoding')?.status).toBe('skip');
  });

  test('rule failures carry structured details: the member, the value, what was expected', () => {
    const cid = 'https://app.example.com/details.json';
    const capabilities = capabilitiesFromServerMetadata({});
    const failure = (document: Record<string, unknown>): CimdError => {
      try {
        validateDocument(JSON.stringify(document), cid, capabilities);
      } catch (error) {
        return error as CimdError;
      }
      throw new Error('expected a rejection');
    };
    expect(failure(clientDoc(cid, { logo_uri: 'http://app.example.com/l.png' }))).toMatchObject({
      code: 'rejected:document',
      rule: 'logo_uri',
      details: { member: 'logo_uri', value: 'http://app.example.com/l.png', expected: 'an https URL' },
    });
    expect(failure(clientDoc('https://app.example.com/other.json'))).toMatchObject({
      code: 'rejected:client_id_mismatch',
      rule: 'client_id',
      details: { member: 'client_id', value: 'https://app.example.com/other.json', expected: cid },
    });
    expect(
      failure(clientDoc(cid, { jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }] } })),
    ).toMatchObject({
      code: 'rejected:secret',
      rule: 'jwks',
      details: { member: 'jwks.keys[0].d', expected: 'absent' },
    });
  });

  test('fetch failures carry the step they happened at', async () => {
    const cid = docs.route('/step-detail.json', { status: 503, body: 'busy' });
    const fetcher = createFetcherForTest();
    try {
      await expect(fetcher.fetchDocument(cid)).rejects.toMatchObject({
        code: 'rejected:status',
        details: { step: 'status', value: 503, expected: '200' },
        response: { status: 503 },
      });
    } finally {
      await fetcher.close();
    }
  });

  test('a document failure is shown as the rule reports it, and carries its member as data', async () => {
    const cid = docs.route('/structured.json', {
      body: clientDoc(docs.cid('/structured.json'), { logo_uri: 'http://app.example.com/logo.png' }),
    });
    const report = await check(cid);
    expect(item(report, 'document:logo_uri')).toMatchObject({
      status: 'fail',
      code: 'rejected:document',
      rule: 'logo_uri',
      message: 'logo_uri must be an https URL',
      fix: 'make "logo_uri" an https URL, or remove it',
    });
  });
});

describe('one catalogue of rule ids', () => {
  test('the report lists every URL and document rule of the catalogue, in its order, contacts included', async () => {
    const cid = docs.route('/catalogue.json', { body: clientDoc(docs.cid('/catalogue.json')) });
    const report = await check(cid);
    expect(stage(report, 'url').map((entry) => entry.id)).toEqual(Object.keys(URL_RULES).map((id) => `url:${id}`));
    const documentIds = stage(report, 'document').map((entry) => entry.id);
    expect(documentIds).toEqual(Object.keys(DOCUMENT_RULES).map((id) => `document:${id}`));
    expect(documentIds).toContain('document:contacts');
    expect(item(report, 'document:contacts')).toMatchObject({
      status: 'pass',
      message: expect.stringMatching(/contacts/),
    });
  });

  test.each([
    ['HTTPS://app.example.com/c#x', ['scheme', 'fragment']],
    ['https://user@app.example.com/./c#f', ['userinfo', 'fragment', 'dot_segment']],
    ['https://app.example.com/#f', ['fragment', 'root_path']],
    ['https://app.example.com/a/../b?q=1', ['dot_segment', 'query']],
    ['https://localhost./c?q', ['query', 'trailing_dot']],
    ['https://10.0.0.1:0/c', ['ip_literal', 'port']],
    ['https://intranet:8443/C', ['single_label', 'port']],
  ])('the URL rules fail in catalogue order: %s reports the first of %j', (cid, violated) => {
    const verdict = createUrlRules({ issuer: 'https://as.example.com', allowedPorts: [443] })(cid);
    const order = Object.keys(URL_RULES);
    const first = [...violated].sort((a, b) => order.indexOf(a) - order.indexOf(b))[0];
    expect(verdict).toMatchObject({ ok: false, rule: first });
  });

  test('the document rules fail in catalogue order: with many broken members, each run reports the next one', () => {
    const cid = 'https://app.example.com/many.json';
    // One violation per rule, each repaired (removed) once it has been reported.
    const broken: Record<string, unknown> = {
      client_id: cid,
      client_secret: 's',
      token_endpoint_auth_method: 'client_secret_post',
      jwks: { keys: 'none' },
      client_uri: 'http://app.example.com',
      logo_uri: 'http://app.example.com/logo.png',
      tos_uri: 'ftp://app.example.com/tos',
      policy_uri: 'http://app.example.com/policy',
      application_type: 'desktop',
      token_endpoint_auth_methods_supported: 'none',
      grant_types: 'authorization_code',
      response_types: 'code',
      response_modes: 'query',
      scope: ['openid'],
      redirect_uris: ['http://app.example.com/callback'],
      contacts: 'ops@app.example.com',
      default_max_age: -1,
      require_auth_time: 'yes',
    };
    const reported: string[] = [];
    const capabilities = capabilitiesFromServerMetadata({});
    for (let round = 0; round < 30; round += 1) {
      try {
        validateDocument(JSON.stringify(broken), cid, capabilities, { requireClientName: false });
        break;
      } catch (error) {
        const rule = (error as CimdError).rule as string;
        reported.push(rule);
        if (rule === 'token_endpoint_auth_method') delete broken.token_endpoint_auth_method;
        else if (rule === 'client_secret') delete broken.client_secret;
        else delete broken[rule];
      }
    }
    const order = Object.keys(DOCUMENT_RULES);
    expect(reported.length).toBeGreaterThan(10);
    expect(reported).toEqual([...reported].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
  });

  test('contacts that is not an array of strings fails with its own rule and fix', async () => {
    const cid = docs.route('/contacts.json', {
      body: clientDoc(docs.cid('/contacts.json'), { contacts: 'ops@app.example.com' }),
    });
    const report = await check(cid);
    expect(item(report, 'document:contacts')).toMatchObject({
      status: 'fail',
      rule: 'contacts',
      message: 'contacts must be an array of strings',
      fix: 'make "contacts" an array of e-mail addresses, or remove it',
    });
    expect(report.rejection).toMatchObject({ stage: 'document', code: 'rejected:document', rule: 'contacts' });
    // Exactly one item per rule: an id missing from the catalogue would be appended a second time.
    expect(report.checks.filter((entry) => entry.id === 'document:contacts')).toHaveLength(1);
  });
});

describe('jwks_uri', () => {
  const publicJwk = () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'ES256' };
  };
  const privateJwk = () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { ...privateKey.export({ format: 'jwk' }), kid: 'k1' };
  };
  /** A private_key_jwt client whose keys are at `jwksPath` on the document server. */
  const keyClient = (name: string, jwksPath: string) =>
    docs.route(`/${name}.json`, {
      body: clientDoc(docs.cid(`/${name}.json`), {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: docs.cid(jwksPath),
      }),
    });

  test('a good JWK Set: fetched once, through the same steps, and reported with its keys', async () => {
    docs.route('/keys/good.json', { body: { keys: [publicJwk()] } });
    const cid = keyClient('jwks-good', '/keys/good.json');
    const before = docs.hits('/keys/good.json');
    const report = await check(cid);
    expect(docs.hits('/keys/good.json')).toBe(before + 1);
    expect(report.accepted).toBe(true);
    expect(stage(report, 'jwks').map((entry) => [entry.id, entry.status])).toEqual([
      ...ORDER.map((step) => [`jwks:${step}`, 'pass']),
      ['jwks:jwks_set', 'pass'],
      ['jwks:jwks_public', 'pass'],
    ]);
    expect(report.jwks).toEqual({ uri: docs.cid('/keys/good.json'), ok: true, keys: 1, keyTypes: ['EC'] });

    const human = await cimd(['check', cid, ...local]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/✓ jwks_uri\s+https:\/\/\S+\/keys\/good\.json: 1 public key \(EC\)/);
  });

  test('a jwks_uri that answers 404 is a failure: the token request would fail with invalid_client', async () => {
    const cid = keyClient('jwks-404', '/keys/missing.json');
    const run = await cimd(['check', cid, ...local, '--json']);
    expect(run.code).toBe(1);
    const report = run.json<CheckReport>();
    expect(report.accepted).toBe(false);
    expect(report.rejection).toMatchObject({ stage: 'jwks', code: 'rejected:status' });
    expect(item(report, 'jwks:status')).toMatchObject({ status: 'fail', code: 'rejected:status' });
    expect(item(report, 'jwks:connect')?.status).toBe('pass');
    expect(item(report, 'jwks:jwks_set')?.status).toBe('skip');
    // The document itself passed: the client can start an authorization.
    expect(stage(report, 'document').every((entry) => entry.status === 'pass')).toBe(true);

    const human = await cimd(['check', cid, ...local]);
    expect(human.stdout).toMatch(/✗ jwks_uri\s+unexpected status 404/);
    expect(human.stdout).toMatch(/REJECTED the client can authorize, but its token requests fail with invalid_client/);
  });

  test.each([
    [
      'a private key (d)',
      () => ({ keys: [privateJwk()] }),
      'jwks:jwks_public',
      'rejected:secret',
      /private key material \(d\)/,
    ],
    [
      'a symmetric key',
      () => ({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }),
      'jwks:jwks_public',
      'rejected:secret',
      /symmetric \(oct\)/,
    ],
    ['no keys array', () => ({ key: [] }), 'jwks:jwks_set', 'rejected:document', /an object with a keys array/],
    [
      'a key without kty',
      () => ({ keys: [{ x: 'abc' }] }),
      'jwks:jwks_set',
      'rejected:document',
      /kty must be a non-empty string/,
    ],
    ['not JSON', () => 'not json', 'jwks:jwks_set', 'rejected:document', /not JSON/],
  ])('%s is a failure', async (name, body, id, code, message) => {
    const path = `/keys/${name.replace(/\W+/g, '-')}.json`;
    docs.route(path, { body: body() });
    const report = await check(keyClient(`jwks-${name.replace(/\W+/g, '-')}`, path));
    expect(report.accepted).toBe(false);
    expect(report.rejection).toMatchObject({ stage: 'jwks', code });
    expect(item(report, id)).toMatchObject({ status: 'fail', code, message: expect.stringMatching(message) });
    expect(item(report, id)?.fix).toBeTruthy();
    expect(report.jwks?.ok).toBe(false);
  });

  test('a local file is not fetched: jwks_uri is reported as not checked', async () => {
    const cid = 'https://app.example.com/keyed.json';
    const file = tmp.write(
      'keyed.json',
      JSON.stringify(
        clientDoc(cid, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: docs.cid('/keys/x.json') }),
      ),
    );
    const before = docs.totalHits;
    const run = await cimd(['check', file, '--client-id', cid, '--json']);
    expect(run.code).toBe(0);
    expect(item(run.json<CheckReport>(), 'jwks:not_checked')?.status).toBe('skip');
    expect(docs.totalHits).toBe(before);
  });
});
