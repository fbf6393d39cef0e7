/**
 * `cimd check` and `cimd pin` judge a document alike for the same `--server-metadata`: both derive the
 * provider's capabilities through the plugin's one function (serverMetadataCapabilities). A member the metadata
 * leaves out keeps oidc-provider's default in both.
 */
import { createCimd } from 'oidc-provider-cimd';
import {
  type CheckReport,
  capabilitiesFromServerMetadata,
  checkDocument,
  serverMetadataCapabilities,
} from 'oidc-provider-cimd/check';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { cimd, clientDoc, tempDir } from './support.js';

let redis: TestRedisServer;
let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  redis = await startRedisServer();
  tmp = await tempDir();
});
afterAll(async () => {
  await redis.close();
  tmp.cleanup();
});

/** A server that states its issuer, scopes and response types, and nothing about auth methods or modes. */
const METADATA = {
  issuer: 'http://localhost',
  scopes_supported: ['openid', 'offline_access'],
  response_types_supported: ['code'],
};

describe('check and pin agree for the same --server-metadata', () => {
  test.each([
    ['form_post, an auth method left out of the metadata', { response_modes: ['form_post'] }, 0],
    ['no usable response mode', { response_modes: ['query.jwt'] }, 1],
  ])('%s', async (name, extra, expected) => {
    const slug = name.replace(/\W+/g, '-');
    const cid = `https://app.example.com/${slug}.json`;
    const file = tmp.write(`${slug}.json`, JSON.stringify(clientDoc(cid, extra)));
    const metadata = tmp.write(`${slug}-server.json`, JSON.stringify(METADATA));

    const checked = await cimd(['check', file, '--client-id', cid, '--server-metadata', metadata, '--json']);
    const pinned = await cimd([
      'pin',
      cid,
      '--from-file',
      file,
      '--server-metadata',
      metadata,
      '--redis',
      redis.url,
      '--allow-loopback',
      '--json',
    ]);
    expect({ check: checked.code, pin: pinned.code }).toEqual({ check: expected, pin: expected });
    if (expected === 0) {
      expect(checked.json<CheckReport>().client?.responseModes?.kept).toEqual(['form_post']);
      expect(pinned.json()).toMatchObject({ pinned: true, entry: { metadata: { response_modes: ['form_post'] } } });
    }
  });

  test('one derivation: the capabilities check uses are those a plugin configured from the same metadata normalises with', async () => {
    const metadata = {
      ...METADATA,
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_modes_supported: ['query', 'form_post'],
      token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
    };
    const { configuration, extras } = serverMetadataCapabilities(metadata);
    // What the operator commands do: a plugin on the server's metadata normalises the document through configure().
    const plugin = createCimd({ issuer: 'https://as.example.com', ...extras });
    plugin.configure(configuration as never);
    const cid = 'https://app.example.com/agree.json';
    const document = JSON.stringify(
      clientDoc(cid, {
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code', 'implicit'],
        response_modes: ['form_post', 'fragment'],
        scope: 'openid offline_access profile',
      }),
    );
    const pinned = await plugin.pin(cid, { document });
    await plugin.close();
    const report = checkDocument(document, {
      clientId: cid,
      issuer: 'https://as.example.com',
      capabilities: capabilitiesFromServerMetadata(metadata),
    });
    expect(report.accepted).toBe(true);
    expect(report.client?.metadata).toEqual(pinned.metadata);
  });
});
