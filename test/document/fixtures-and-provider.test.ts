import { Provider } from 'oidc-provider';
import type { ProviderCapabilities } from '../../packages/oidc-provider-cimd/src/plugin/capabilities.js';
import { type ClientMetadata, validateDocument } from '../../packages/oidc-provider-cimd/src/rules/document.js';
import { redirectUriMatches } from '../../packages/oidc-provider-cimd/src/rules/redirect-uris.js';
import { FIXTURE_NAMES, type FixtureName, loadFixture } from '../helpers/fixtures.js';

const CID = 'https://127.0.0.1:8443/doc';

/** What `new Provider(issuer, { clients: [] })` supports. */
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

/** The members oidc-provider 9 recognises on a default provider (consts/client_attributes.js). */
const RECOGNIZED = new Set([
  'application_type',
  'client_id_issued_at',
  'client_id',
  'client_name',
  'client_secret_expires_at',
  'client_secret',
  'client_uri',
  'contacts',
  'default_acr_values',
  'default_max_age',
  'grant_types',
  'id_token_signed_response_alg',
  'initiate_login_uri',
  'jwks_uri',
  'jwks',
  'logo_uri',
  'policy_uri',
  'redirect_uris',
  'require_auth_time',
  'response_types',
  'response_modes',
  'scope',
  'sector_identifier_uri',
  'subject_type',
  'token_endpoint_auth_method',
  'tos_uri',
]);

type ProviderClient = InstanceType<Provider['Client']>;
let provider: Provider;
let makeClient: (metadata: ClientMetadata) => ProviderClient;

beforeAll(() => {
  provider = new Provider('http://localhost:3000', { clients: [] });
  // The published types do not declare the constructor; it takes client metadata.
  const ClientClass = provider.Client as unknown as new (metadata: ClientMetadata) => ProviderClient;
  // A JSON round trip, not structuredClone: under jest's VM modules structuredClone returns objects of the
  // outer realm, which oidc-provider's `constructor === Object` plain-object check (for jwks) refuses.
  makeClient = (metadata) => new ClientClass(JSON.parse(JSON.stringify(metadata)) as ClientMetadata);
});

const normalise = (name: FixtureName) => validateDocument(JSON.stringify(loadFixture(name, CID)), CID, DEFAULT_CAPS);

describe('fixtures: real client documents validate on a default provider', () => {
  test('loadFixture rewrites client_id and keeps the rest', () => {
    expect(loadFixture('zed', CID).client_id).toBe(CID);
    expect(loadFixture('zed').client_id).toBe('https://zed.dev/oauth/client-metadata.json');
  });

  test.each(FIXTURE_NAMES)('%s', (name) => {
    const { metadata } = normalise(name);
    expect(metadata.client_id).toBe(CID);
    expect(metadata.token_endpoint_auth_method).toBe('none');
    expect(metadata.grant_types).toEqual(['authorization_code', 'refresh_token']);
    expect(metadata.response_types).toEqual(['code']);
    for (const key of Object.keys(metadata)) expect(RECOGNIZED.has(key)).toBe(true);
  });

  test('claude: web, jwt-bearer dropped', () => {
    const { metadata, dropped, loopbackOnly } = normalise('claude');
    expect(metadata.application_type).toBe('web');
    expect(metadata.redirect_uris).toEqual(['https://claude.ai/api/mcp/auth_callback']);
    expect(dropped.grantTypes).toEqual(['urn:ietf:params:oauth:grant-type:jwt-bearer']);
    expect(loopbackOnly).toBe(false);
  });

  test('claude-code: native inferred, loopback-only', () => {
    const { metadata, dropped, loopbackOnly } = normalise('claude-code');
    expect(metadata.application_type).toBe('native');
    expect(metadata.redirect_uris).toEqual(['http://localhost/callback', 'http://127.0.0.1/callback']);
    expect(dropped.grantTypes).toEqual([]);
    expect(loopbackOnly).toBe(true);
  });

  test('vscode: native, device_code dropped, logo kept, not loopback-only', () => {
    const { metadata, dropped, loopbackOnly } = normalise('vscode');
    expect(metadata.application_type).toBe('native');
    expect(metadata.logo_uri).toBe('https://code.visualstudio.com/assets/images/code-stable.png');
    expect(dropped.grantTypes).toEqual(['urn:ietf:params:oauth:grant-type:device_code']);
    expect(loopbackOnly).toBe(false);
  });

  test('zed: native inferred, loopback-only', () => {
    const { metadata, loopbackOnly } = normalise('zed');
    expect(metadata.application_type).toBe('native');
    expect(loopbackOnly).toBe(true);
  });

  test('a fixture served under its real URL validates against that URL only', () => {
    const real = 'https://claude.ai/oauth/mcp-oauth-client-metadata';
    expect(validateDocument(JSON.stringify(loadFixture('claude')), real, DEFAULT_CAPS).metadata.client_id).toBe(real);
    expect(() => validateDocument(JSON.stringify(loadFixture('claude')), CID, DEFAULT_CAPS)).toThrow(
      expect.objectContaining({ code: 'rejected:client_id_mismatch' }),
    );
  });

  test('a fixture with language-tagged names and extension members still resolves', () => {
    const doc = {
      ...loadFixture('claude-code', CID),
      'client_name#ja': 'クロード',
      software_id: 'x',
      'tos_uri#de': 'x',
    };
    const { metadata } = validateDocument(JSON.stringify(doc), CID, DEFAULT_CAPS);
    expect(metadata.client_name).toBe('Claude Code');
    expect(() => makeClient(metadata)).not.toThrow();
  });
});

describe('redirect matching of normalised documents', () => {
  test('claude-code accepts any loopback port and nothing else', () => {
    const { metadata } = normalise('claude-code');
    const native = metadata.application_type === 'native';
    const registered = metadata.redirect_uris ?? [];
    expect(redirectUriMatches(registered, 'http://localhost:58135/callback', native)).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:40000/callback', native)).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:40000/other', native)).toBe(false);
    expect(redirectUriMatches(registered, 'https://localhost:58135/callback', native)).toBe(false);
    expect(redirectUriMatches(registered, 'http://localhost:58135/callback?x=1', native)).toBe(false);
  });

  test('vscode (native): its loopback redirect matches other ports', () => {
    const { metadata } = normalise('vscode');
    const registered = metadata.redirect_uris ?? [];
    expect(redirectUriMatches(registered, 'http://127.0.0.1:33418/', true)).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/', true)).toBe(true);
    expect(redirectUriMatches(registered, 'https://vscode.dev/redirect', true)).toBe(true);
    expect(redirectUriMatches(registered, 'https://vscode.dev:8443/redirect', true)).toBe(false);
  });

  test('a web client with loopback redirects gets no port exception', () => {
    const doc = { ...loadFixture('claude-code', CID), application_type: 'web' };
    const { metadata } = validateDocument(JSON.stringify(doc), CID, DEFAULT_CAPS);
    expect(metadata.application_type).toBe('web');
    const registered = metadata.redirect_uris ?? [];
    expect(redirectUriMatches(registered, 'http://localhost/callback', false)).toBe(true);
    expect(redirectUriMatches(registered, 'http://localhost:58135/callback', false)).toBe(false);
  });
});

describe('cross-check with oidc-provider', () => {
  const variants: Record<string, Record<string, unknown>> = {
    'claude-code as web': { ...loadFixture('claude-code', CID), application_type: 'web' },
    'private_key_jwt with jwks': {
      ...loadFixture('claude', CID),
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: {
        keys: [
          {
            kty: 'EC',
            crv: 'P-256',
            kid: 'k1',
            x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
            y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
          },
        ],
      },
    },
    'plural auth methods with jwks_uri': {
      ...loadFixture('zed', CID),
      token_endpoint_auth_method: undefined,
      // draft-ietf-oauth-client-id-metadata-document-03 §6: no shared-secret entry may be listed.
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      jwks_uri: 'https://zed.dev/jwks.json',
    },
    'everything optional': {
      ...loadFixture('vscode', CID),
      scope: 'openid profile offline_access',
      response_types: ['code', 'id_token code', 'code token'],
      response_modes: ['query', 'form_post', 'query.jwt'],
      contacts: ['ops@example.com', 'not an address'],
      tos_uri: 'https://code.visualstudio.com/tos',
      policy_uri: 'https://code.visualstudio.com/privacy',
      default_max_age: 600,
      require_auth_time: false,
      default_acr_values: ['urn:mace:incommon:iap:silver'],
      id_token_signed_response_alg: 'HS256',
      subject_type: 'pairwise',
      post_logout_redirect_uris: ['https://vscode.dev/bye'],
      software_statement: 'eyJ...',
    },
    'private-use scheme, native inferred': {
      ...loadFixture('zed', CID),
      redirect_uris: ['dev.zed.app:/oauth/callback', 'http://[::1]/callback'],
    },
    'native with a claimed https redirect and response type none': {
      ...loadFixture('zed', CID),
      application_type: 'native',
      redirect_uris: ['https://zed.dev/callback'],
      response_types: ['none', 'code'],
    },
    'no client_name allowed': { ...loadFixture('zed', CID), client_name: undefined },
  };

  const allDocuments = (): Array<[string, ClientMetadata]> => [
    ...FIXTURE_NAMES.map((name): [string, ClientMetadata] => [name, normalise(name).metadata]),
    ...Object.entries(variants).map(([label, doc]): [string, ClientMetadata] => [
      label,
      validateDocument(JSON.stringify(doc), CID, DEFAULT_CAPS, {
        requireClientName: label !== 'no client_name allowed',
      }).metadata,
    ]),
  ];

  test('our capabilities describe the default provider', () => {
    // A client asking for everything we claim to support is accepted as is.
    const client = makeClient({
      client_id: CID,
      redirect_uris: ['https://app.example.com/cb'],
      token_endpoint_auth_method: 'none',
      grant_types: [...DEFAULT_CAPS.grantTypes],
      response_types: [...DEFAULT_CAPS.responseTypes],
      response_modes: [...DEFAULT_CAPS.responseModes],
      scope: [...DEFAULT_CAPS.scopes].join(' '),
    });
    expect(client.clientId).toBe(CID);
  });

  test('every normalised document is a valid oidc-provider client', () => {
    for (const [label, metadata] of allDocuments()) {
      let client: ProviderClient | undefined;
      try {
        client = makeClient(metadata);
      } catch (error) {
        throw new Error(`${label}: ${(error as { error_description?: string }).error_description ?? String(error)}`);
      }
      expect(client.clientId).toBe(CID);
      const snapshot = client.metadata() as Record<string, unknown>;
      expect(snapshot.token_endpoint_auth_method).toBe(metadata.token_endpoint_auth_method);
      expect(snapshot.redirect_uris).toEqual(metadata.redirect_uris);
      expect(snapshot.application_type).toBe(metadata.application_type);
      if (metadata.scope !== undefined) expect(snapshot.scope).toBe(metadata.scope);
    }
  });

  test('the everything-optional document normalises as expected', () => {
    const metadata = Object.fromEntries(allDocuments())['everything optional'] as ClientMetadata;
    expect(metadata).toMatchObject({
      scope: 'openid offline_access',
      response_types: ['code', 'code id_token'],
      response_modes: ['query', 'form_post'],
      contacts: ['ops@example.com'],
    });
    for (const key of [
      'default_acr_values',
      'id_token_signed_response_alg',
      'subject_type',
      'post_logout_redirect_uris',
    ]) {
      expect(metadata).not.toHaveProperty(key);
    }
  });

  test('the normalised documents are what the provider itself would keep', () => {
    // Without our normalisation, the provider rejects the real documents (extra grants) ...
    expect(() => makeClient(loadFixture('claude', CID) as ClientMetadata)).toThrow();
    expect(() => makeClient(loadFixture('vscode', CID) as ClientMetadata)).toThrow();
    // ... and treats portless loopback clients without application_type as web (no port exception).
    const raw = makeClient(loadFixture('claude-code', CID) as ClientMetadata);
    expect(raw.redirectUriAllowed('http://localhost:58135/callback')).toBe(false);
  });

  const cases: Array<[string, string]> = [
    ['claude-code', 'http://localhost:58135/callback'],
    ['claude-code', 'http://127.0.0.1:40000/callback'],
    ['claude-code', 'http://localhost/callback'],
    ['claude-code', 'http://127.0.0.1:40000/other'],
    ['claude-code', 'https://localhost:58135/callback'],
    ['claude-code', 'http://localhost:58135/callback?x=1'],
    ['claude-code', 'http://localhost:58135/callback/'],
    ['claude-code', 'http://[::1]:58135/callback'],
    ['claude-code', 'http://LOCALHOST:58135/callback'],
    ['claude-code', 'http://localhost:abc/callback'],
    ['claude-code', 'http://localhost:/callback'],
    ['claude-code', 'http://user@localhost:1/callback'],
    ['claude-code', 'http://localhost:58135/callback#'],
    ['claude-code', 'not a uri'],
    ['zed', 'http://127.0.0.1:9999/callback'],
    ['zed', 'http://localhost:9999/callback'],
    ['vscode', 'http://127.0.0.1:33418/'],
    ['vscode', 'http://127.0.0.1:50000/'],
    ['vscode', 'http://127.0.0.1/'],
    ['vscode', 'http://127.0.0.1:50000'],
    ['vscode', 'https://vscode.dev/redirect'],
    ['vscode', 'https://vscode.dev:443/redirect'],
    ['vscode', 'https://vscode.dev/redirect?x'],
    ['claude', 'https://claude.ai/api/mcp/auth_callback'],
    ['claude', 'https://claude.ai:8443/api/mcp/auth_callback'],
    ['claude', 'https://claude.ai/api/mcp/auth_callback/'],
  ];

  test.each(cases)('%s: redirectUriMatches agrees with client.redirectUriAllowed for %s', (name, uri) => {
    const { metadata } = normalise(name as FixtureName);
    const client = makeClient(metadata);
    expect(redirectUriMatches(metadata.redirect_uris ?? [], uri, metadata.application_type === 'native')).toBe(
      client.redirectUriAllowed(uri),
    );
  });

  test.each(['http://localhost/callback', 'http://localhost:58135/callback', 'http://127.0.0.1:40000/callback'])(
    'web client with loopback redirects: both agree for %s',
    (uri) => {
      const doc = { ...loadFixture('claude-code', CID), application_type: 'web' };
      const { metadata } = validateDocument(JSON.stringify(doc), CID, DEFAULT_CAPS);
      const client = makeClient(metadata);
      expect(redirectUriMatches(metadata.redirect_uris ?? [], uri, false)).toBe(client.redirectUriAllowed(uri));
    },
  );

  test('expected outcomes of the agreement cases', () => {
    const { metadata } = normalise('claude-code');
    const client = makeClient(metadata);
    expect(client.redirectUriAllowed('http://localhost:58135/callback')).toBe(true);
    expect(client.redirectUriAllowed('http://127.0.0.1:40000/callback')).toBe(true);
    expect(client.redirectUriAllowed('http://127.0.0.1:40000/other')).toBe(false);
    expect(client.redirectUriAllowed('https://localhost:58135/callback')).toBe(false);
    expect(client.redirectUriAllowed('http://localhost:58135/callback?x=1')).toBe(false);
  });
});
