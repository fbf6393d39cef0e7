/**
 * The client-id advisor: from a server's metadata, which id each known client presents, which authentication
 * method it uses, and what fails, each with its source; the same in `cimd advise` and in the discovery
 * self-check.
 */
import { readFileSync } from 'node:fs';
import { adviseClients, type ClientAdvice, knownClientFor, knownClients } from 'oidc-provider-cimd';
import { checkDiscoveryDocuments } from '../../packages/oidc-provider-cimd/src/plugin/discovery-check.js';
import { cimd, tempDir } from './support.js';

/** What oidc-provider with the plugin publishes (the parts the advisor reads). */
const GOOD = {
  issuer: 'https://as.example.com',
  client_id_metadata_document_supported: true,
  token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
  code_challenge_methods_supported: ['S256'],
  authorization_response_iss_parameter_supported: true,
  scopes_supported: ['openid', 'offline_access'],
  jwks_uri: 'https://as.example.com/jwks',
  registration_endpoint: 'https://as.example.com/reg',
};

const by = (advice: ClientAdvice[], name: string) => advice.find((client) => client.client === name)!;

test('a complete server: every known client signs in with CIMD, each prediction with a source', () => {
  const advice = adviseClients(GOOD);
  expect(advice.map((client) => client.client)).toEqual(knownClients.map((client) => client.name));
  for (const client of advice) {
    expect({ client: client.client, outcome: client.outcome }).toEqual({ client: client.client, outcome: 'cimd' });
    expect(new URL(client.clientId!.source).protocol).toBe('https:');
    expect(new URL(client.authMethod!.source).protocol).toBe('https:');
    expect(client.problems.filter((problem) => problem.severity === 'fail')).toEqual([]);
  }
  // RFC 9207 advertised: ChatGPT and Codex present their stable ids; ChatGPT authenticates with private_key_jwt.
  expect(by(advice, 'ChatGPT').clientId?.id).toBe('https://chatgpt.com/oauth/client.json');
  expect(by(advice, 'Codex').clientId?.id).toBe('https://chatgpt.com/oauth/codex/client.json');
  expect(by(advice, 'ChatGPT').authMethod?.method).toBe('private_key_jwt');
  expect(by(advice, 'Claude').authMethod?.method).toBe('none');
});

test('without the RFC 9207 iss parameter: per-connector ids, said as a note', () => {
  const advice = adviseClients({ ...GOOD, authorization_response_iss_parameter_supported: undefined });
  expect(by(advice, 'ChatGPT').clientId?.id).toBe('https://chatgpt.com/oauth/*/client.json');
  expect(by(advice, 'Codex').clientId?.id).toBe('https://chatgpt.com/oauth/codex/*/client.json');
  expect(by(advice, 'ChatGPT').problems.map((problem) => [problem.id, problem.severity])).toEqual([
    ['iss_missing', 'note'],
  ]);
  expect(by(advice, 'Claude').problems).toEqual([]);
});

test('without none: the clients that need it fall back to DCR (or have no way in); ChatGPT uses private_key_jwt', () => {
  const advice = adviseClients({ ...GOOD, token_endpoint_auth_methods_supported: ['private_key_jwt'] });
  for (const name of ['Claude', 'Claude Code', 'Codex', 'opencode']) {
    expect({ name, outcome: by(advice, name).outcome, id: by(advice, name).problems[0]?.id }).toEqual({
      name,
      outcome: 'dcr',
      id: 'none_missing',
    });
  }
  expect(by(advice, 'ChatGPT')).toMatchObject({ outcome: 'cimd', authMethod: { method: 'private_key_jwt' } });
  // A public client that needs none but does not fall back: its document is refused.
  expect(by(advice, 'Zed')).toMatchObject({ outcome: 'fails', problems: [{ id: 'auth_method_unsupported' }] });
  const noDcr = adviseClients({
    ...GOOD,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    registration_endpoint: undefined,
  });
  expect(by(noDcr, 'Claude').outcome).toBe('fails');
});

test('without none in the list but private_key_jwt missing too, ChatGPT falls back to none', () => {
  const advice = adviseClients({ ...GOOD, token_endpoint_auth_methods_supported: ['none'] });
  expect(by(advice, 'ChatGPT').authMethod?.method).toBe('none');
});

test('without S256 every client fails; without the flag every client uses DCR', () => {
  const noS256 = adviseClients({ ...GOOD, code_challenge_methods_supported: ['plain'] });
  expect(new Set(noS256.map((client) => client.outcome))).toEqual(new Set(['fails']));
  expect(by(noS256, 'VS Code').problems.map((problem) => problem.id)).toEqual(['s256_missing']);
  const noFlag = adviseClients({ ...GOOD, client_id_metadata_document_supported: 'true' });
  expect(new Set(noFlag.map((client) => client.outcome))).toEqual(new Set(['dcr']));
  expect(by(noFlag, 'Zed').clientId).toBeUndefined();
});

test('Claude validates the id_token: openid without jwks_uri fails; no openid is a note', () => {
  expect(by(adviseClients({ ...GOOD, jwks_uri: undefined }), 'Claude')).toMatchObject({
    outcome: 'fails',
    problems: [{ id: 'id_token_unverifiable', severity: 'fail' }],
  });
  expect(by(adviseClients({ ...GOOD, scopes_supported: ['mcp'] }), 'Claude')).toMatchObject({
    outcome: 'cimd',
    problems: [{ id: 'openid_missing', severity: 'note' }],
  });
});

test('the discovery self-check carries the same advice', async () => {
  const report = await checkDiscoveryDocuments(
    async () => ({ ...GOOD, token_endpoint_auth_methods_supported: ['private_key_jwt'] }),
    true,
  );
  expect(report.ok).toBe(false);
  expect(report.advice).toEqual(adviseClients({ ...GOOD, token_endpoint_auth_methods_supported: ['private_key_jwt'] }));
  expect(report.message).toContain('- Claude: Dynamic Client Registration');
  const fine = await checkDiscoveryDocuments(async () => GOOD, true);
  expect(fine.advice.every((client) => client.outcome === 'cimd')).toBe(true);
});

test('the ChatGPT per-connector document belongs to ChatGPT, the Codex ids to Codex', () => {
  const chatgpt = JSON.parse(
    readFileSync(new URL('../fixtures/client-documents/chatgpt.json', import.meta.url), 'utf8'),
  );
  expect(knownClientFor(chatgpt.client_id)?.name).toBe('ChatGPT');
  expect(knownClientFor('https://chatgpt.com/oauth/client.json')?.name).toBe('ChatGPT');
  expect(knownClientFor('https://chatgpt.com/oauth/codex/client.json')?.name).toBe('Codex');
  expect(knownClientFor('https://chatgpt.com/oauth/codex/q3Lh7xw1Hv9M/client.json')?.name).toBe('Codex');
  expect(knownClientFor('https://example.com/client.json')).toBeUndefined();
});

describe('cimd advise', () => {
  test('reads a metadata file; exit 0 when every client signs in, 1 otherwise; --json', async () => {
    const tmp = await tempDir();
    try {
      const good = await cimd(['advise', tmp.write('good.json', JSON.stringify(GOOD))]);
      expect(good.code).toBe(0);
      expect(good.stdout).toMatch(/✓ ChatGPT {2}signs in with CIMD/);
      expect(good.stdout).toContain('client_id    https://chatgpt.com/oauth/client.json  (source: https://');
      const bad = await cimd([
        'advise',
        tmp.write('bad.json', JSON.stringify({ ...GOOD, token_endpoint_auth_methods_supported: ['private_key_jwt'] })),
        '--json',
      ]);
      expect(bad.code).toBe(1);
      expect(by(bad.json().advice, 'Claude').outcome).toBe('dcr');
    } finally {
      tmp.cleanup();
    }
  });
});
