/**
 * The example's environment toggles: CIMD and DCR independently, and the development exception.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createApp } from '../../examples/koa-server/src/app.js';
import { type RunningExample, startExample } from './start-example.js';

const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/koa-server/', import.meta.url));
const WELL_KNOWN = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

describe.each([
  { cimdEnabled: true, dcrEnabled: true },
  { cimdEnabled: true, dcrEnabled: false },
  { cimdEnabled: false, dcrEnabled: true },
  { cimdEnabled: false, dcrEnabled: false },
])('discovery with CIMD_ENABLED=$cimdEnabled DCR_ENABLED=$dcrEnabled', ({ cimdEnabled, dcrEnabled }) => {
  let example: RunningExample;
  beforeAll(async () => {
    example = await startExample({ cimdEnabled, dcrEnabled });
  });
  afterAll(() => example.close());

  it.each(WELL_KNOWN)('%s reflects both toggles', async (path) => {
    const response = await fetch(`${example.issuer}${path}`);
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    if (cimdEnabled) {
      expect(metadata.client_id_metadata_document_supported).toBe(true);
    } else {
      expect(metadata).not.toHaveProperty('client_id_metadata_document_supported');
    }
    if (dcrEnabled) {
      expect(metadata.registration_endpoint).toBe(`${example.issuer}/reg`);
    } else {
      expect(metadata).not.toHaveProperty('registration_endpoint');
    }
    expect(metadata.code_challenge_methods_supported).toContain('S256');
    expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
  });

  it(`registration ${dcrEnabled ? 'creates a client' : 'is not served'}`, async () => {
    const response = await fetch(`${example.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://app.example.org/cb'], token_endpoint_auth_method: 'none' }),
    });
    if (dcrEnabled) {
      expect(response.status).toBe(201);
      const client = (await response.json()) as { client_id: string };
      expect(client.client_id).not.toMatch(/^https:\/\//);
    } else {
      expect(response.status).toBe(404);
      await response.body?.cancel();
    }
  });
});

describe('development exception (CIMD_ALLOW_LOOPBACK)', () => {
  it('createApp refuses it with a non-loopback issuer', async () => {
    await expect(createApp({ issuer: 'https://auth.example.com', allowLoopback: true })).rejects.toThrow(
      /only honoured with a loopback issuer/,
    );
  });

  it('the server exits 1 at startup with a message that says why', async () => {
    // Exactly what `pnpm start` runs (tsx follows the example's tsconfig paths to the plugin's source).
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: EXAMPLE_DIR,
      env: {
        ...process.env,
        PORT: '0',
        ISSUER: 'https://auth.example.com',
        CIMD_ALLOW_LOOPBACK: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/koa-server: cannot start: .*allowLoopback.*loopback issuer.*https:\/\/auth\.example\.com/);
    expect(stdout).not.toMatch(/"event":"startup"/);
  });
});
