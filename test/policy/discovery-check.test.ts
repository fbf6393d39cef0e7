/**
 * The discovery self-check: a provider configured through the plugin passes; a deployment whose discovery lacks
 * the flag or `none` (here: overridden after configure(), or rewritten by a proxy) gets a warning that names the
 * clients that would silently fall back to DCR, or an error with `discoveryCheck: 'error'`.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import { Provider } from 'oidc-provider';
import { createCimd } from 'oidc-provider-cimd';
import { checkDiscoveryDocuments } from '../../packages/oidc-provider-cimd/src/plugin/discovery-check.js';
import { startProvider } from '../helpers/provider.js';

const ISSUER = 'http://localhost:3999';

/** The process warnings of code CIMD_DISCOVERY emitted meanwhile (a spy: Jest's sandbox has its own `process`). */
function captureWarnings() {
  const spy = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
  const warnings: string[] = [];
  return {
    warnings,
    done: async () => {
      for (const [warning, options] of spy.mock.calls) {
        if ((options as { code?: string } | undefined)?.code === 'CIMD_DISCOVERY') warnings.push(String(warning));
      }
      spy.mockRestore();
    },
  };
}

describe('discovery self-check', () => {
  test('a provider configured through the plugin passes, with no warning', async () => {
    const op = await startProvider();
    const capture = captureWarnings();
    try {
      const report = await op.cimd.selfCheck(op.provider);
      expect(report).toEqual({ ok: true, problems: [], message: undefined, advice: expect.any(Array) });
    } finally {
      await capture.done();
      await op.close();
    }
    expect(capture.warnings).toEqual([]);
  });

  test('discovery overridden after configure(): a warning naming Claude, Codex and opencode', async () => {
    const cimd = createCimd({ issuer: ISSUER });
    const configuration = cimd.configure({});
    // A deployment that later replaces the discovery extras, dropping the flag.
    configuration.discovery = { service_documentation: 'https://docs.example.com' };
    const provider = new Provider(ISSUER, configuration);
    const capture = captureWarnings();
    const report = await cimd.selfCheck(provider);
    await capture.done();
    await cimd.close();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.document, p.id])).toEqual([
      ['/.well-known/oauth-authorization-server', 'flag_missing'],
      ['/.well-known/openid-configuration', 'flag_missing'],
    ]);
    expect(capture.warnings).toHaveLength(1);
    const message = capture.warnings[0]!;
    expect(message).toContain('client_id_metadata_document_supported');
    expect(message).toMatch(/Claude, Codex, opencode will not use CIMD/);
    expect(message).toMatch(/fall back to Dynamic Client Registration/);
  });

  test("discoveryCheck: 'error' makes it an error", async () => {
    const cimd = createCimd({ issuer: ISSUER, discoveryCheck: 'error' });
    const configuration = cimd.configure({});
    configuration.discovery = {};
    const provider = new Provider(ISSUER, configuration);
    await expect(cimd.selfCheck(provider)).rejects.toThrow(/Claude, Codex, opencode will not use CIMD/);
    await cimd.close();
  });

  test('checks what clients really receive at a URL (a proxy that drops `none`)', async () => {
    const documents: Record<string, unknown> = {
      '/.well-known/oauth-authorization-server': {
        issuer: 'x',
        client_id_metadata_document_supported: true,
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        code_challenge_methods_supported: ['S256'],
      },
      '/.well-known/openid-configuration': {
        issuer: 'x',
        client_id_metadata_document_supported: 'true',
        token_endpoint_auth_methods_supported: ['none'],
        code_challenge_methods_supported: ['plain'],
      },
    };
    const server = http.createServer((req, res) => {
      const body = documents[req.url ?? ''];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const cimd = createCimd({ issuer: ISSUER });
    try {
      const capture = captureWarnings();
      const report = await cimd.selfCheck(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      await capture.done();
      expect(report.problems.map((p) => p.id)).toEqual(['none_missing', 'flag_missing', 's256_missing']);
      expect(report.problems[1]!.message).toContain('"true"');
      expect(capture.warnings).toHaveLength(1);
    } finally {
      await cimd.close();
      server.close();
    }
  });

  test('an unreadable document and a disabled plugin that still advertises CIMD', async () => {
    const unreadable = await checkDiscoveryDocuments(async () => {
      throw new Error('status 404');
    }, true);
    expect(unreadable.problems.map((p) => p.id)).toEqual(['unreadable', 'unreadable']);
    const disabled = await checkDiscoveryDocuments(
      async () => ({ client_id_metadata_document_supported: true }),
      false,
    );
    expect(disabled.problems.map((p) => p.id)).toEqual(['flag_without_cimd', 'flag_without_cimd']);
    const off = await checkDiscoveryDocuments(async () => ({}), false);
    expect(off.ok).toBe(true);
  });

  test('bad targets and a misspelt mode are refused', async () => {
    expect(() => createCimd({ issuer: ISSUER, discoveryCheck: 'loud' as never })).toThrow(
      /discoveryCheck must be .*warn.*error.*off.*loud/,
    );
    const ok = createCimd({ issuer: ISSUER });
    await expect(ok.selfCheck('ftp://x')).rejects.toThrow(/needs a provider or an http\(s\) URL/);
    await expect(ok.selfCheck({} as never)).rejects.toThrow(/needs an oidc-provider Provider/);
    await ok.close();
  });
});
