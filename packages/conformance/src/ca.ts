/**
 * The kit's own certificate authority (development mode). The server under test is told to trust this CA for
 * document hosts (for example NODE_EXTRA_CA_CERTS for a Node server); the kit's document host then presents a
 * leaf certificate for `localhost`, `127.0.0.1` and `::1` signed by it. The CA is written to a folder and reused,
 * so a server configured once keeps working across runs.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface KitCa {
  /** PEM of the CA certificate: the file the server under test must trust. */
  caCert: string;
  caKey: string;
  /** Where `caCert` is written (`<dir>/ca.pem`). */
  caPath: string;
}

export interface LeafCertificate {
  key: string;
  cert: string;
}

const DAY = 24 * 60 * 60 * 1000;

/** Reads the CA from `dir`, or creates it there (ca.pem, ca-key.pem) when absent. */
export async function ensureCa(dir: string): Promise<KitCa> {
  const caPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'ca-key.pem');
  if (existsSync(caPath) && existsSync(keyPath)) {
    return { caCert: await readFile(caPath, 'utf8'), caKey: await readFile(keyPath, 'utf8'), caPath };
  }
  const pems = await generate([{ name: 'commonName', value: 'cimd-conformance test CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY),
    notAfterDate: new Date(Date.now() + 365 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  await mkdir(dir, { recursive: true });
  await writeFile(caPath, pems.cert);
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  return { caCert: pems.cert, caKey: pems.private, caPath };
}

/** A fresh leaf certificate signed by the CA, for the given DNS names and IP addresses. */
export async function issueLeaf(ca: KitCa, dnsNames: string[], ips: string[]): Promise<LeafCertificate> {
  const pems = await generate([{ name: 'commonName', value: dnsNames[0] ?? ips[0] ?? 'cimd-conformance' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY),
    notAfterDate: new Date(Date.now() + 30 * DAY),
    ca: { key: ca.caKey, cert: ca.caCert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dnsNames.map((value) => ({ type: 2 as const, value })),
          ...ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
