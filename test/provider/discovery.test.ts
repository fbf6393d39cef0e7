import { startProvider, type TestProvider } from '../helpers/provider.js';

const WELL_KNOWN = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

describe('discovery', () => {
  let on: TestProvider;
  let off: TestProvider;
  beforeAll(async () => {
    on = await startProvider();
    off = await startProvider({ cimd: { enabled: false } });
  });
  afterAll(async () => {
    await on.close();
    await off.close();
  });

  test.each(WELL_KNOWN)('%s advertises CIMD support when enabled', async (path) => {
    const body = (await (await fetch(new URL(path, on.issuer))).json()) as Record<string, unknown>;
    expect(body.client_id_metadata_document_supported).toBe(true);
    expect(body.code_challenge_methods_supported).toContain('S256');
    expect(body.token_endpoint_auth_methods_supported).toContain('none');
  });

  test.each(WELL_KNOWN)('%s carries no flag when disabled', async (path) => {
    const body = (await (await fetch(new URL(path, off.issuer))).json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('client_id_metadata_document_supported');
    expect(body.issuer).toBe(off.issuer);
  });
});
