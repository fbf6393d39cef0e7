import { createCimd } from 'oidc-provider-cimd';

describe('configure() and createCimd() refuse unsafe setups at startup', () => {
  test('the built-in CIMD feature cannot be combined with the plugin', () => {
    const cimd = createCimd({ issuer: 'https://as.acme.com' });
    expect(() => cimd.configure({ features: { clientIdMetadataDocument: { enabled: true } } } as never)).toThrow(
      /built-in features\.clientIdMetadataDocument/,
    );
  });

  test('the development exception needs a loopback issuer', () => {
    expect(() => createCimd({ issuer: 'https://as.acme.com', allowLoopback: true })).toThrow(
      /only honoured with a loopback issuer/,
    );
    expect(() => createCimd({ allowLoopback: true })).toThrow(/needs the `issuer` option/);
    for (const issuer of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000']) {
      expect(() => createCimd({ issuer, allowLoopback: true })).not.toThrow();
    }
  });

  test('a configuration that brings its own fetch would bypass the guard', () => {
    const cimd = createCimd({ issuer: 'https://as.acme.com' });
    expect(() => cimd.configure({ fetch: globalThis.fetch } as never)).toThrow(/bypass the SSRF guard/);
    const relaxed = createCimd({ issuer: 'https://as.acme.com', guardProviderFetch: false });
    expect(() => relaxed.configure({ fetch: globalThis.fetch } as never)).not.toThrow();
  });

  test("clientAuthMethods without 'none' cannot serve public CIMD clients", () => {
    const cimd = createCimd({ issuer: 'https://as.acme.com' });
    expect(() => cimd.configure({ clientAuthMethods: ['private_key_jwt'] })).toThrow(/must include 'none'/);
  });

  test('disabled: the configuration comes back untouched', () => {
    const cimd = createCimd({ enabled: false, issuer: 'https://as.acme.com' });
    const config = { clients: [], discovery: { service_documentation: 'x' } };
    const out = cimd.configure(config);
    expect(out).toEqual(config);
    expect(out).not.toBe(config);
    expect(out.adapter).toBeUndefined();
  });

  test('enabled: discovery flag, guarded fetch and a wrapped adapter are added, the input is not mutated', () => {
    const cimd = createCimd({ issuer: 'https://as.acme.com' });
    const config = { discovery: { service_documentation: 'x' } };
    const out = cimd.configure(config);
    expect(out.discovery).toEqual({ service_documentation: 'x', client_id_metadata_document_supported: true });
    expect(typeof out.fetch).toBe('function');
    expect(typeof out.adapter).toBe('function');
    expect(config).toEqual({ discovery: { service_documentation: 'x' } });
  });
});
