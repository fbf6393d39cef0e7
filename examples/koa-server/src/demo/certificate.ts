/**
 * A certificate for the demo client's document host, made at start and thrown away at exit. The server
 * process trusts it through CIMD_EXTRA_CA (the plugin's `ca` option) and nothing else does.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface DemoCertificate {
  key: string;
  cert: string;
  /** PEM file of `cert`, for CIMD_EXTRA_CA. */
  caPath: string;
  remove(): Promise<void>;
}

export async function createDemoCertificate(): Promise<DemoCertificate> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: new Date(Date.now() + 24 * 60 * 60 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'cimd-demo-'));
  const caPath = path.join(dir, 'demo-client-ca.pem');
  await writeFile(caPath, pems.cert);
  return {
    key: pems.private,
    cert: pems.cert,
    caPath,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
