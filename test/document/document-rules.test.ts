import { CimdError } from '../../packages/oidc-provider-cimd/src/core/errors.js';
import type { ProviderCapabilities } from '../../packages/oidc-provider-cimd/src/plugin/capabilities.js';
import {
  type DocumentRuleOptions,
  isGrantWithoutUser,
  type NormalisedDocument,
  validateDocument,
} from '../../packages/oidc-provider-cimd/src/rules/document.js';

const CID = 'https://app.example.com/oauth/client.json';

/** What a default oidc-provider 9 supports. */
const DEFAULT_CAPS: ProviderCapabilities = {
  grantTypes: new Set(['authorization_code', 'refresh_token']),
  responseTypes: new Set(['code id_token', 'code', 'id_token', 'none']),
  responseModes: new Set(['query', 'fragment', 'form_post']),
  scopes: new Set(['openid', 'offline_access']),
  clientAuthMethods: new Set([
    'client_secret_basic',
    'client_secret_jwt',
    'client_secret_post',
    'private_key_jwt',
    'none',
  ]),
};

const caps = (overrides: Partial<Record<keyof ProviderCapabilities, string[]>>): ProviderCapabilities => ({
  ...DEFAULT_CAPS,
  ...Object.fromEntries(Object.entries(overrides).map(([key, values]) => [key, new Set(values)])),
});

const base = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  client_id: CID,
  client_name: 'Example App',
  redirect_uris: ['https://app.example.com/callback'],
  ...extra,
});

/** Removes members from the base document. */
const without = (...names: string[]): Record<string, unknown> => {
  const doc = base();
  for (const name of names) delete doc[name];
  return doc;
};

const validate = (
  doc: Record<string, unknown> | string,
  capabilities: ProviderCapabilities = DEFAULT_CAPS,
  options?: DocumentRuleOptions,
): NormalisedDocument =>
  validateDocument(typeof doc === 'string' ? doc : JSON.stringify(doc), CID, capabilities, options);

const rejection = (fn: () => unknown): CimdError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CimdError);
    return error as CimdError;
  }
  throw new Error('expected a rejection');
};

const expectRejected = (fn: () => unknown, code: string, rule: string): CimdError => {
  const error = rejection(fn);
  expect({ code: error.code, rule: error.rule }).toEqual({ code, rule });
  expect(error.publicMessage).toBe(`client metadata document is invalid: ${rule}`);
  return error;
};

const jwk = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
};

describe('input forms', () => {
  test('accepts a string, a Buffer and a Uint8Array', () => {
    const text = JSON.stringify(base());
    for (const body of [text, Buffer.from(text), new TextEncoder().encode(text)]) {
      expect(validateDocument(body, CID, DEFAULT_CAPS).metadata.client_id).toBe(CID);
    }
  });

  test('non-ASCII UTF-8 is decoded', () => {
    const result = validateDocument(
      Buffer.from(JSON.stringify(base({ client_name: 'Ünïcødé 東京 😀' }))),
      CID,
      DEFAULT_CAPS,
    );
    expect(result.metadata.client_name).toBe('Ünïcødé 東京 😀');
  });
});

describe('rejections: JSON', () => {
  test('syntax error', () => {
    expectRejected(() => validate('{"client_id":'), 'rejected:json', 'json');
  });
  test('empty body', () => {
    expectRejected(() => validate(''), 'rejected:json', 'json');
  });
  test('an HTML page', () => {
    expectRejected(() => validate('<!doctype html><title>Just a moment...</title>'), 'rejected:json', 'json');
  });
  test.each([
    ['array', '[]'],
    ['string', '"https://app.example.com/oauth/client.json"'],
    ['number', '1'],
    ['null', 'null'],
    ['true', 'true'],
  ])('not an object: %s', (_label, text) => {
    expectRejected(() => validate(text), 'rejected:json', 'not_object');
  });
  test('two concatenated objects', () => {
    const text = JSON.stringify(base());
    expectRejected(() => validate(text + text), 'rejected:json', 'json');
  });
  test('duplicate member at the top level', () => {
    const text = `{"client_id":${JSON.stringify(CID)},"client_name":"A","client_name":"B","redirect_uris":["https://app.example.com/cb"]}`;
    expectRejected(() => validate(text), 'rejected:json', 'duplicate_member');
  });
  test('duplicate client_id (first one matching)', () => {
    const text = `{"client_id":${JSON.stringify(CID)},"client_id":"https://evil.example.com/doc"}`;
    expectRejected(() => validate(text), 'rejected:json', 'duplicate_member');
  });
  test('duplicate member nested in jwks', () => {
    const text = JSON.stringify(base({ jwks: { keys: [jwk] } })).replace('"kty":"EC"', '"kty":"EC","kty":"EC"');
    expectRejected(() => validate(text), 'rejected:json', 'duplicate_member');
  });
  test('duplicate member via a unicode escape', () => {
    const text = JSON.stringify(base()).replace('{', '{"redirect_\\u0075ris":["https://evil.example.com/cb"],');
    expectRejected(() => validate(text), 'rejected:json', 'duplicate_member');
  });
  test('invalid UTF-8 bytes', () => {
    const bytes = Buffer.concat([Buffer.from('{"client_name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expectRejected(() => validateDocument(bytes, CID, DEFAULT_CAPS), 'rejected:json', 'json');
  });
  test('overlong UTF-8 encoding', () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
    expectRejected(() => validateDocument(bytes, CID, DEFAULT_CAPS), 'rejected:json', 'json');
  });
  test('UTF-8 byte order mark', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(base()))]);
    expectRejected(() => validateDocument(bytes, CID, DEFAULT_CAPS), 'rejected:json', 'json');
  });
  test('UTF-16 body', () => {
    const bytes = Buffer.from(`\ufeff${JSON.stringify(base())}`, 'utf16le');
    expectRejected(() => validateDocument(bytes, CID, DEFAULT_CAPS), 'rejected:json', 'json');
  });
  test('nesting too deep', () => {
    const text = JSON.stringify(base({ x: JSON.parse('['.repeat(40) + ']'.repeat(40)) }));
    expectRejected(() => validate(text), 'rejected:json', 'json');
  });
});

describe('rejections: client_id', () => {
  test.each([
    ['another URL', 'https://other.example.com/oauth/client.json'],
    ['trailing slash', `${CID}/`],
    ['upper-case host', CID.replace('app.example.com', 'APP.example.com')],
    ['explicit default port', CID.replace('app.example.com', 'app.example.com:443')],
    ['percent-encoded path byte', CID.replace('client.json', 'client%2Ejson')],
    ['surrounding whitespace', ` ${CID}`],
    ['a number', 1],
    ['an array', [CID]],
    ['null', null],
  ])('%s', (_label, clientId) => {
    expectRejected(() => validate(base({ client_id: clientId })), 'rejected:client_id_mismatch', 'client_id');
  });
  test('missing', () => {
    expectRejected(() => validate(without('client_id')), 'rejected:client_id_mismatch', 'client_id');
  });
  test('the same URL written with an escape is the same string and accepted', () => {
    const text = JSON.stringify(base()).replace('client.json', 'client\\u002ejson');
    expect(validate(text).metadata.client_id).toBe(CID);
  });
});

describe('rejections: secrets', () => {
  test.each([
    ['a string', 'shh'],
    ['null', null],
    ['an empty string', ''],
  ])('client_secret as %s', (_label, value) => {
    expectRejected(() => validate(base({ client_secret: value })), 'rejected:secret', 'client_secret');
  });
  test.each([
    ['0', 0],
    ['null', null],
  ])('client_secret_expires_at as %s', (_label, value) => {
    expectRejected(
      () => validate(base({ client_secret_expires_at: value })),
      'rejected:secret',
      'client_secret_expires_at',
    );
  });
  test.each(['client_secret_basic', 'client_secret_post', 'client_secret_jwt'])(
    'token_endpoint_auth_method %s',
    (method) => {
      expectRejected(
        () => validate(base({ token_endpoint_auth_method: method })),
        'rejected:secret',
        'token_endpoint_auth_method',
      );
    },
  );
  test('secret checks come before other rules', () => {
    expectRejected(() => validate({ client_id: CID, client_secret: 'x' }), 'rejected:secret', 'client_secret');
  });
});

describe('rejections: jwks', () => {
  const rsa = { kty: 'RSA', n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl', e: 'AQAB' };

  test.each(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'])('private member %s in a key', (name) => {
    const key = { ...rsa, [name]: name === 'oth' ? [{ r: 'x', d: 'y', t: 'z' }] : 'AQAB' };
    expectRejected(
      () => validate(base({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key] } })),
      'rejected:secret',
      'jwks',
    );
  });
  test('private key of an EC key, in the second key', () => {
    expectRejected(() => validate(base({ jwks: { keys: [jwk, { ...jwk, d: 'x' }] } })), 'rejected:secret', 'jwks');
  });
  test('private member with a null value', () => {
    expectRejected(() => validate(base({ jwks: { keys: [{ ...jwk, d: null }] } })), 'rejected:secret', 'jwks');
  });
  test('symmetric (oct) key', () => {
    expectRejected(
      () => validate(base({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } })),
      'rejected:secret',
      'jwks',
    );
  });
  test('symmetric key material under another kty', () => {
    expectRejected(
      () => validate(base({ jwks: { keys: [{ kty: 'XYZ', k: 'c2VjcmV0' }] } })),
      'rejected:secret',
      'jwks',
    );
  });
  test.each([
    ['an array', [jwk]],
    ['a string', 'keys'],
    ['an object without keys', {}],
    ['keys not an array', { keys: jwk }],
    ['a key that is not an object', { keys: ['x'] }],
    ['a key that is null', { keys: [null] }],
    ['a key without kty', { keys: [{ x: 'a' }] }],
    ['an RSA key without n', { keys: [{ kty: 'RSA', e: 'AQAB' }] }],
    ['an EC key without y', { keys: [{ kty: 'EC', crv: 'P-256', x: 'a' }] }],
    ['a key with an empty kid', { keys: [{ ...jwk, kid: '' }] }],
    ['a key with a bad x5c', { keys: [{ ...jwk, x5c: 'abc' }] }],
  ])('jwks %s', (_label, value) => {
    expectRejected(() => validate(base({ jwks: value })), 'rejected:document', 'jwks');
  });
  test('both jwks and jwks_uri', () => {
    expectRejected(
      () => validate(base({ jwks: { keys: [jwk] }, jwks_uri: 'https://app.example.com/jwks.json' })),
      'rejected:document',
      'jwks',
    );
  });
  test('private_key_jwt with neither jwks nor jwks_uri', () => {
    expectRejected(
      () => validate(base({ token_endpoint_auth_method: 'private_key_jwt' })),
      'rejected:document',
      'jwks',
    );
  });
  test('private_key_jwt chosen from the plural list without keys', () => {
    expectRejected(
      () => validate(base({ token_endpoint_auth_methods_supported: ['private_key_jwt'] })),
      'rejected:document',
      'jwks',
    );
  });
});

describe('rejections: https URIs', () => {
  test.each(['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'jwks_uri'])('%s', (name) => {
    for (const value of [
      'http://app.example.com/x',
      'ftp://app.example.com/x',
      'javascript:alert(1)',
      'data:image/png;base64,AAAA',
      '//app.example.com/x',
      '/relative',
      'not a url',
      '',
      'https://app.example.com/a b',
      'https://app.example.com/\n',
      ' https://app.example.com/x',
      'https:\\\\app.example.com\\x',
      'https://bücher.example/',
      42,
      ['https://app.example.com/x'],
      {},
    ]) {
      expectRejected(() => validate(base({ [name]: value })), 'rejected:document', name);
    }
  });
  test('https URIs are accepted, fragments and queries included', () => {
    const result = validate(
      base({
        client_uri: 'https://app.example.com',
        logo_uri: 'https://cdn.example.net/logo.png?v=2',
        tos_uri: 'https://app.example.com/legal#tos',
        policy_uri: 'https://app.example.com/legal#privacy',
        jwks_uri: 'https://app.example.com/jwks.json',
      }),
    );
    expect(result.metadata).toMatchObject({
      client_uri: 'https://app.example.com',
      logo_uri: 'https://cdn.example.net/logo.png?v=2',
      tos_uri: 'https://app.example.com/legal#tos',
      policy_uri: 'https://app.example.com/legal#privacy',
      jwks_uri: 'https://app.example.com/jwks.json',
    });
  });
});

describe('rejections: redirect_uris', () => {
  test('missing', () => {
    expectRejected(() => validate(without('redirect_uris')), 'rejected:document', 'redirect_uris');
  });
  test('empty', () => {
    expectRejected(() => validate(base({ redirect_uris: [] })), 'rejected:document', 'redirect_uris');
  });
  test('null (treated as missing)', () => {
    expectRejected(() => validate(base({ redirect_uris: null })), 'rejected:document', 'redirect_uris');
  });
  test.each([
    ['a string', 'https://app.example.com/callback'],
    ['an object', { uri: 'https://app.example.com/callback' }],
    ['an array with a number', ['https://app.example.com/callback', 1]],
    ['an array with null', [null]],
    ['an array of arrays', [['https://app.example.com/callback']]],
  ])('not an array of strings: %s', (_label, value) => {
    expectRejected(() => validate(base({ redirect_uris: value })), 'rejected:document', 'redirect_uris');
  });
  test.each([
    ['unparsable', 'http://[::1/cb'],
    ['relative', '/callback'],
    ['empty string', ''],
    ['whitespace', 'https://app.example.com/call back'],
    ['leading whitespace', ' https://app.example.com/callback'],
    ['a tab inside', 'https://app.example.com/call\tback'],
    ['a backslash', 'https://app.example.com\\callback'],
    ['a fragment', 'https://app.example.com/callback#frag'],
    ['an empty fragment', 'https://app.example.com/callback#'],
    ['a loopback URI with a fragment', 'http://localhost/callback#'],
    ['plain http, not loopback', 'http://app.example.com/callback'],
    ['plain http to another loopback address', 'http://127.0.0.2/callback'],
    ['plain http to a private address', 'http://192.168.1.1/callback'],
    ['plain http to localhost.', 'http://localhost./callback'],
    ['javascript:', 'javascript:alert(1)'],
    ['JavaScript: (upper case)', 'JavaScript:alert(1)'],
    ['data:', 'data:text/html,hi'],
    ['file:', 'file:///etc/passwd'],
    ['vbscript:', 'vbscript:msgbox(1)'],
    ['blob:', 'blob:https://app.example.com/1'],
    ['about:', 'about:blank'],
  ])('%s', (_label, uri) => {
    expectRejected(
      () => validate(base({ redirect_uris: ['https://app.example.com/ok', uri] })),
      'rejected:document',
      'redirect_uris',
    );
  });
  test('a private-use scheme in a web client', () => {
    expectRejected(
      () => validate(base({ application_type: 'web', redirect_uris: ['com.example.app:/callback'] })),
      'rejected:document',
      'redirect_uris',
    );
  });
  test('a private-use scheme mixed with https, without application_type (web)', () => {
    expectRejected(
      () => validate(base({ redirect_uris: ['https://app.example.com/cb', 'com.example.app:/callback'] })),
      'rejected:document',
      'redirect_uris',
    );
  });
  test('https on a loopback host for a native client', () => {
    expectRejected(
      () => validate(base({ application_type: 'native', redirect_uris: ['https://localhost/callback'] })),
      'rejected:document',
      'redirect_uris',
    );
  });
  test('loopback http for a web client using the implicit grant', () => {
    expectRejected(
      () =>
        validate(
          base({
            application_type: 'web',
            grant_types: ['implicit'],
            response_types: ['id_token'],
            redirect_uris: ['http://127.0.0.1/callback'],
          }),
          caps({ grantTypes: ['authorization_code', 'implicit'] }),
        ),
      'rejected:document',
      'redirect_uris',
    );
  });
});

describe('rejections: client_name', () => {
  test('missing', () => {
    expectRejected(() => validate(without('client_name')), 'rejected:document', 'client_name');
  });
  test.each([
    ['empty', ''],
    ['whitespace only', '   '],
    ['a number', 7],
    ['an object', { en: 'x' }],
    ['null', null],
  ])('%s', (_label, value) => {
    expectRejected(() => validate(base({ client_name: value })), 'rejected:document', 'client_name');
  });
  test('only a language-tagged name', () => {
    const doc = without('client_name');
    doc['client_name#ja'] = 'アプリ';
    expectRejected(() => validate(doc), 'rejected:document', 'client_name');
  });
  test('not required when configured so', () => {
    const result = validate(without('client_name'), DEFAULT_CAPS, { requireClientName: false });
    expect(result.metadata).not.toHaveProperty('client_name');
  });
  test('still type-checked when not required', () => {
    expectRejected(
      () => validate(base({ client_name: 3 }), DEFAULT_CAPS, { requireClientName: false }),
      'rejected:document',
      'client_name',
    );
  });
});

describe('rejections: member types', () => {
  test.each([
    ['grant_types', 'authorization_code'],
    ['grant_types', [1]],
    ['response_types', 'code'],
    ['response_types', [{}]],
    ['response_modes', 'query'],
    ['response_modes', [true]],
    ['scope', ['openid']],
    ['scope', 1],
    ['application_type', 'browser'],
    ['application_type', 'Native'],
    ['application_type', ''],
    ['application_type', 1],
    ['token_endpoint_auth_method', ''],
    ['token_endpoint_auth_method', 1],
    ['token_endpoint_auth_method', ['none']],
    ['token_endpoint_auth_methods_supported', 'none'],
    ['token_endpoint_auth_methods_supported', [1]],
    ['contacts', 'ops@example.com'],
    ['contacts', [1]],
    ['default_max_age', -1],
    ['default_max_age', 1.5],
    ['default_max_age', '60'],
    ['require_auth_time', 'true'],
  ])('%s = %j', (name, value) => {
    expectRejected(() => validate(base({ [name]: value })), 'rejected:document', name);
  });
});

describe('rejections: nothing supported', () => {
  test('grant_types with no supported value', () => {
    expectRejected(
      () => validate(base({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] })),
      'rejected:document',
      'grant_types',
    );
  });
  test('grant_types empty', () => {
    expectRejected(() => validate(base({ grant_types: [] })), 'rejected:document', 'grant_types');
  });
  test('response_types with no supported value', () => {
    expectRejected(() => validate(base({ response_types: ['token'] })), 'rejected:document', 'response_types');
  });
  test('response_types empty', () => {
    expectRejected(() => validate(base({ response_types: [] })), 'rejected:document', 'response_types');
  });
  test('response_modes with no supported value', () => {
    expectRejected(() => validate(base({ response_modes: ['query.jwt'] })), 'rejected:document', 'response_modes');
  });
  test('response_modes empty', () => {
    expectRejected(() => validate(base({ response_modes: [] })), 'rejected:document', 'response_modes');
  });
  test('response type code without the authorization_code grant', () => {
    expectRejected(() => validate(base({ grant_types: ['refresh_token'] })), 'rejected:document', 'grant_types');
  });
  test('authorization_code dropped by the provider while code is kept', () => {
    expectRejected(
      () =>
        validate(
          base({ grant_types: ['authorization_code', 'refresh_token'] }),
          caps({ grantTypes: ['refresh_token'] }),
        ),
      'rejected:document',
      'grant_types',
    );
  });
  // draft-ietf-oauth-client-id-metadata-document-03 §6: nothing supported is `unauthorized_client`.
  const expectUnauthorized = (fn: () => unknown): void => {
    const error = rejection(fn);
    expect({ code: error.code, rule: error.rule }).toEqual({
      code: 'rejected:unauthorized_client',
      rule: 'token_endpoint_auth_method',
    });
  };
  test('a lone singular auth method the provider does not support: unauthorized_client', () => {
    expectUnauthorized(() =>
      validate(
        base({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://app.example.com/j' }),
        caps({ clientAuthMethods: ['none'] }),
      ),
    );
  });
  test('a lone unknown singular auth method: unauthorized_client (none is never assumed)', () => {
    expectUnauthorized(() => validate(base({ token_endpoint_auth_method: 'magic' })));
  });
  test('tls_client_auth is not usable by a CIMD client', () => {
    expectUnauthorized(() =>
      validate(
        base({ token_endpoint_auth_method: 'tls_client_auth' }),
        caps({ clientAuthMethods: ['none', 'tls_client_auth'] }),
      ),
    );
  });
  test('absent auth method when the provider does not support none', () => {
    expectUnauthorized(() => validate(base(), caps({ clientAuthMethods: ['client_secret_basic', 'private_key_jwt'] })));
  });
  test('plural auth methods with nothing supported: only unknown methods', () => {
    expectUnauthorized(() => validate(base({ token_endpoint_auth_methods_supported: ['magic'] })));
  });
  // Issue 22 item 8: an empty list is a malformed document, not unauthorized_client.
  test('an empty token_endpoint_auth_methods_supported is a malformed document', () => {
    expectRejected(
      () => validate(base({ token_endpoint_auth_methods_supported: [] })),
      'rejected:document',
      'token_endpoint_auth_methods_supported',
    );
  });
  test('plural without none when the provider only supports none: unauthorized_client, never none', () => {
    expectUnauthorized(() =>
      validate(
        base({ token_endpoint_auth_methods_supported: ['private_key_jwt'], jwks_uri: 'https://app.example.com/j' }),
        caps({ clientAuthMethods: ['none'] }),
      ),
    );
  });
  test.each([
    [['client_secret_basic', 'client_secret_post']],
    [['client_secret_basic', 'none']],
    [['none', 'private_key_jwt', 'client_secret_jwt']],
  ])('a plural list naming a shared-secret method: %j', (plural) => {
    expectRejected(
      () => validate(base({ token_endpoint_auth_methods_supported: plural, jwks_uri: 'https://app.example.com/j' })),
      'rejected:secret',
      'token_endpoint_auth_methods_supported',
    );
  });
  test.each([
    ['private_key_jwt', ['none']],
    ['none', ['private_key_jwt']],
    ['none', ['magic']],
  ])('a singular %s that the plural list %j does not name', (singular, plural) => {
    expectRejected(
      () =>
        validate(
          base({
            token_endpoint_auth_method: singular,
            token_endpoint_auth_methods_supported: plural,
            jwks_uri: 'https://app.example.com/j',
          }),
        ),
      'rejected:document',
      'token_endpoint_auth_method',
    );
  });
});

describe('normalisation: token endpoint auth method', () => {
  const keys = { jwks_uri: 'https://app.example.com/jwks.json' };
  const method = (doc: Record<string, unknown>, capabilities = DEFAULT_CAPS) =>
    validate(base({ ...keys, ...doc }), capabilities).metadata.token_endpoint_auth_method;

  test('absent → none (not client_secret_basic)', () => {
    expect(method({})).toBe('none');
  });
  test('null → none', () => {
    expect(method({ token_endpoint_auth_method: null })).toBe('none');
  });
  test('singular none', () => {
    expect(method({ token_endpoint_auth_method: 'none' })).toBe('none');
  });
  test('singular private_key_jwt', () => {
    expect(method({ token_endpoint_auth_method: 'private_key_jwt' })).toBe('private_key_jwt');
  });
  // Issue 22 item 8: the client's order of preference decides where draft-03 §6 leaves the choice open.
  test("plural only: the client's first supported entry wins, none is not preferred", () => {
    expect(method({ token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'] })).toBe('private_key_jwt');
    expect(method({ token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'] })).toBe('none');
  });
  test('the choice and its reason are reported (the fetched event detail)', () => {
    const chosen = validate(
      base({ ...keys, token_endpoint_auth_methods_supported: ['magic', 'private_key_jwt', 'none'] }),
    );
    expect(chosen.authMethod).toBe(
      'auth method private_key_jwt: the first entry of token_endpoint_auth_methods_supported this server supports (not supported: magic)',
    );
    expect(validate(base()).authMethod).toBe('auth method none: the document names no method');
  });
  test('plural only: without none, the first common method in document order', () => {
    expect(method({ token_endpoint_auth_methods_supported: ['magic', 'private_key_jwt'] })).toBe('private_key_jwt');
  });
  test('singular in the intersection wins over none', () => {
    expect(
      method({
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
      }),
    ).toBe('private_key_jwt');
  });
  test('singular none and plural with none', () => {
    expect(
      method({
        token_endpoint_auth_method: 'none',
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      }),
    ).toBe('none');
  });
  test('an unsupported singular is not an error while a listed method is supported: the first supported one', () => {
    expect(
      method({
        token_endpoint_auth_method: 'self_signed_tls_client_auth',
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'self_signed_tls_client_auth', 'none'],
      }),
    ).toBe('private_key_jwt');
  });
  test('an unsupported singular is not an error while a listed method is supported: else the first one', () => {
    expect(
      method({
        token_endpoint_auth_method: 'magic',
        token_endpoint_auth_methods_supported: ['magic', 'private_key_jwt'],
      }),
    ).toBe('private_key_jwt');
  });
  test('an unsupported singular with a supported entry (provider without private_key_jwt)', () => {
    expect(
      method(
        {
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
        },
        caps({ clientAuthMethods: ['none'] }),
      ),
    ).toBe('none');
  });
  test('ChatGPT: singular private_key_jwt, plural [none, private_key_jwt], jwks_uri', () => {
    expect(
      method({
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
        jwks_uri: 'https://chatgpt.com/oauth/jwks.json',
      }),
    ).toBe('private_key_jwt');
    // The same document on a provider that offers only none.
    expect(
      method(
        {
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
          jwks_uri: 'https://chatgpt.com/oauth/jwks.json',
        },
        caps({ clientAuthMethods: ['none'] }),
      ),
    ).toBe('none');
  });
  test('Codex: only the plural [none]', () => {
    expect(method({ token_endpoint_auth_methods_supported: ['none'] })).toBe('none');
  });
  test('plural none when the provider lacks it: the next common method', () => {
    expect(
      method(
        { token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'] },
        caps({ clientAuthMethods: ['client_secret_basic', 'private_key_jwt'] }),
      ),
    ).toBe('private_key_jwt');
  });
  test('self_signed_tls_client_auth is usable with keys when supported', () => {
    expect(
      method(
        { token_endpoint_auth_method: 'self_signed_tls_client_auth' },
        caps({ clientAuthMethods: ['none', 'self_signed_tls_client_auth'] }),
      ),
    ).toBe('self_signed_tls_client_auth');
  });
  test('the plural member is removed from the metadata', () => {
    const { metadata } = validate(base({ token_endpoint_auth_methods_supported: ['none'] }));
    expect(metadata).not.toHaveProperty('token_endpoint_auth_methods_supported');
  });
  test('jwks are passed through for private_key_jwt', () => {
    const { metadata } = validate(base({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }));
    expect(metadata.jwks).toEqual({ keys: [jwk] });
  });
});

describe('normalisation: grant types, response types and modes', () => {
  test('defaults', () => {
    const { metadata, dropped } = validate(base());
    expect(metadata.grant_types).toEqual(['authorization_code']);
    expect(metadata.response_types).toEqual(['code']);
    expect(metadata).not.toHaveProperty('response_modes');
    expect(dropped).toEqual({ grantTypes: [], responseTypes: [], responseModes: [], scopes: [] });
  });
  test("Claude's jwt-bearer grant is dropped", () => {
    const { metadata, dropped } = validate(
      base({ grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'] }),
    );
    expect(metadata.grant_types).toEqual(['authorization_code', 'refresh_token']);
    expect(dropped.grantTypes).toEqual(['urn:ietf:params:oauth:grant-type:jwt-bearer']);
  });
  test("VS Code's device_code grant is dropped", () => {
    const { metadata, dropped } = validate(
      base({ grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'] }),
    );
    expect(metadata.grant_types).toEqual(['authorization_code', 'refresh_token']);
    expect(dropped.grantTypes).toEqual(['urn:ietf:params:oauth:grant-type:device_code']);
  });
  test('supported extension grants are kept', () => {
    const { metadata } = validate(
      base({ grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] }),
      caps({ grantTypes: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] }),
    );
    expect(metadata.grant_types).toEqual(['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code']);
  });
  describe('grants in which no user takes part (draft-ietf-oauth-client-id-metadata-document-02 §4)', () => {
    const CIBA = 'urn:openid:params:grant-type:ciba';
    const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const machine = caps({ grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', CIBA, EXCHANGE] });
    const keyed = { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://app.example.com/jwks.json' };
    const grants = ['authorization_code', 'client_credentials', CIBA, EXCHANGE];
    const everything = () => true;

    test.each([
      ['client_credentials'],
      [CIBA],
      [EXCHANGE],
      ['password'],
      ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
      ['urn:example:custom-grant'],
    ])('%s counts as a grant without a user', (grant) => {
      expect(isGrantWithoutUser(grant)).toBe(true);
    });
    test.each([
      ['authorization_code'],
      ['implicit'],
      ['refresh_token'],
      ['urn:ietf:params:oauth:grant-type:device_code'],
    ])('%s involves a user', (grant) => {
      expect(isGrantWithoutUser(grant)).toBe(false);
    });

    test('dropped from a none client, even when the policy would grant them', () => {
      const { metadata, dropped } = validate(base({ grant_types: grants }), machine, {
        allowGrantWithoutUser: everything,
      });
      expect(metadata.grant_types).toEqual(['authorization_code']);
      expect(dropped.grantTypes).toEqual(['client_credentials', CIBA, EXCHANGE]);
    });
    test('dropped from an authenticated (private_key_jwt) client by default', () => {
      const { metadata } = validate(base({ ...keyed, grant_types: grants }), machine);
      expect(metadata.token_endpoint_auth_method).toBe('private_key_jwt');
      expect(metadata.grant_types).toEqual(['authorization_code']);
    });
    test('kept for an authenticated client only as far as the policy grants them to this client', () => {
      const seen: [string, string][] = [];
      const { metadata } = validate(base({ ...keyed, grant_types: grants }), machine, {
        allowGrantWithoutUser: (cid, grant) => {
          seen.push([cid, grant]);
          return grant === 'client_credentials';
        },
      });
      expect(metadata.grant_types).toEqual(['authorization_code', 'client_credentials']);
      expect(seen).toEqual([
        [CID, 'client_credentials'],
        [CID, CIBA],
        [CID, EXCHANGE],
      ]);
    });
    test('a document asking only for machine grants is rejected', () => {
      expectRejected(
        () => validate(base({ grant_types: ['client_credentials'], response_types: [] }), machine),
        'rejected:document',
        'grant_types',
      );
    });
  });
  test('duplicate values are collapsed', () => {
    const { metadata } = validate(
      base({ grant_types: ['authorization_code', 'authorization_code'], response_types: ['code', 'code'] }),
    );
    expect(metadata.grant_types).toEqual(['authorization_code']);
    expect(metadata.response_types).toEqual(['code']);
  });
  test('response types are normalised before comparing and unsupported ones dropped', () => {
    const { metadata, dropped } = validate(base({ response_types: ['id_token code', 'code token', 'code'] }));
    expect(metadata.response_types).toEqual(['code id_token', 'code']);
    expect(dropped.responseTypes).toEqual(['code token']);
  });
  test('response modes are reduced', () => {
    const { metadata, dropped } = validate(base({ response_modes: ['query', 'jwt', 'form_post', 'web_message'] }));
    expect(metadata.response_modes).toEqual(['query', 'form_post']);
    expect(dropped.responseModes).toEqual(['jwt', 'web_message']);
  });
  test('a provider without response types gets a client without any, and redirect_uris become optional', () => {
    const doc = without('redirect_uris');
    doc.grant_types = ['urn:ietf:params:oauth:grant-type:device_code'];
    const { metadata, dropped } = validate(
      doc,
      caps({ responseTypes: [], grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] }),
    );
    expect(metadata.response_types).toEqual([]);
    expect(metadata.redirect_uris).toEqual([]);
    expect(dropped.responseTypes).toEqual(['code']);
  });
});

describe('normalisation: scope', () => {
  test('reduced to supported scopes', () => {
    const { metadata, dropped } = validate(base({ scope: 'openid profile offline_access mcp:tools' }));
    expect(metadata.scope).toBe('openid offline_access');
    expect(dropped.scopes).toEqual(['profile', 'mcp:tools']);
  });
  test('extra spaces and duplicates are tolerated', () => {
    expect(validate(base({ scope: ' openid  openid ' })).metadata.scope).toBe('openid');
  });
  test('omitted when nothing is left', () => {
    const { metadata, dropped } = validate(base({ scope: 'profile email' }));
    expect(metadata).not.toHaveProperty('scope');
    expect(dropped.scopes).toEqual(['profile', 'email']);
  });
  test('omitted when empty', () => {
    expect(validate(base({ scope: '' })).metadata).not.toHaveProperty('scope');
  });
});

describe('normalisation: application_type and loopback', () => {
  test('absent, all loopback → native, loopback-only', () => {
    const result = validate(base({ redirect_uris: ['http://localhost/callback', 'http://[::1]:8080/callback'] }));
    expect(result.metadata.application_type).toBe('native');
    expect(result.loopbackOnly).toBe(true);
  });
  test('absent, https → web', () => {
    const result = validate(base());
    expect(result.metadata.application_type).toBe('web');
    expect(result.loopbackOnly).toBe(false);
  });
  test('absent, loopback and https → web, not loopback-only', () => {
    const result = validate(base({ redirect_uris: ['http://127.0.0.1/cb', 'https://app.example.com/cb'] }));
    expect(result.metadata.application_type).toBe('web');
    expect(result.loopbackOnly).toBe(false);
  });
  test('absent, private-use scheme and loopback → native, not loopback-only', () => {
    const result = validate(base({ redirect_uris: ['com.example.app:/callback', 'http://127.0.0.1/cb'] }));
    expect(result.metadata.application_type).toBe('native');
    expect(result.loopbackOnly).toBe(false);
  });
  test('explicit web with loopback redirects stays web (no port exception) but is loopback-only', () => {
    const result = validate(base({ application_type: 'web', redirect_uris: ['http://localhost/callback'] }));
    expect(result.metadata.application_type).toBe('web');
    expect(result.loopbackOnly).toBe(true);
  });
  test('explicit native with https redirects', () => {
    const result = validate(base({ application_type: 'native', redirect_uris: ['https://app.example.com/cb'] }));
    expect(result.metadata.application_type).toBe('native');
    expect(result.loopbackOnly).toBe(false);
  });
  test('duplicate redirect URIs are collapsed', () => {
    const result = validate(base({ redirect_uris: ['https://app.example.com/cb', 'https://app.example.com/cb'] }));
    expect(result.metadata.redirect_uris).toEqual(['https://app.example.com/cb']);
  });
});

describe('normalisation: other members', () => {
  test('unknown and unsupported members are not returned', () => {
    const { metadata } = validate(
      base({
        software_id: 'x',
        software_version: '1.0',
        'client_name#ja': 'アプリ',
        'logo_uri#fr': 'https://app.example.com/fr.png',
        post_logout_redirect_uris: ['https://app.example.com/bye'],
        default_acr_values: ['urn:x'],
        id_token_signed_response_alg: 'none',
        subject_type: 'pairwise',
        sector_identifier_uri: 'https://app.example.com/sector.json',
        initiate_login_uri: 'https://app.example.com/login',
        client_id_issued_at: 1,
        token_endpoint_auth_methods_supported: ['none'],
      }),
    );
    expect(Object.keys(metadata).sort()).toEqual(
      [
        'application_type',
        'client_id',
        'client_name',
        'grant_types',
        'redirect_uris',
        'response_types',
        'token_endpoint_auth_method',
      ].sort(),
    );
  });
  test('a __proto__ member is ignored and pollutes nothing', () => {
    const text = JSON.stringify(base()).replace('{', '{"__proto__":{"client_secret":"x","application_type":"native"},');
    const { metadata } = validate(text);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(metadata, '__proto__')).toBe(false);
    expect(metadata.application_type).toBe('web');
  });
  test('language-tagged names do not break anything', () => {
    const { metadata } = validate(base({ 'client_name#ja-Jpan-JP': 'アプリ', 'client_name#en': 'App' }));
    expect(metadata.client_name).toBe('Example App');
  });
  test('null optional members are treated as absent', () => {
    const { metadata } = validate(
      base({
        logo_uri: null,
        jwks: null,
        jwks_uri: null,
        scope: null,
        grant_types: null,
        response_modes: null,
        application_type: null,
      }),
    );
    expect(metadata).not.toHaveProperty('logo_uri');
    expect(metadata).not.toHaveProperty('jwks');
    expect(metadata.grant_types).toEqual(['authorization_code']);
    expect(metadata.application_type).toBe('web');
  });
  test('contacts keep only e-mail addresses', () => {
    expect(
      validate(base({ contacts: ['ops@example.com', 'https://example.com/help', 'ops@example.com'] })).metadata
        .contacts,
    ).toEqual(['ops@example.com']);
    expect(validate(base({ contacts: ['Jane Doe'] })).metadata).not.toHaveProperty('contacts');
  });
  test('default_max_age and require_auth_time are kept when valid', () => {
    expect(validate(base({ default_max_age: 3600, require_auth_time: true })).metadata).toMatchObject({
      default_max_age: 3600,
      require_auth_time: true,
    });
  });
  test('client_id is the CID, exactly', () => {
    expect(validate(base()).metadata.client_id).toBe(CID);
  });
});
