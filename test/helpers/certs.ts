/**
 * One self-signed TLS certificate per test process, generated on first use. Trust it by passing `cert` as the
 * fetcher's (or any TLS client's) `ca`; it is its own trust anchor, there is no separate CA.
 *
 * Valid for: localhost, cimd.test, *.cimd.test, 127.0.0.1, 127.0.0.2 and ::1.
 */
import { generate } from 'selfsigned';

export interface TestCertificate {
  /** PEM private key. */
  key: string;
  /** PEM certificate; also the value to trust as `ca`. */
  cert: string;
}

/** Host names the certificate covers (for tests that need a DNS name resolved by an injected lookup). */
export const TEST_CERT_DNS_NAMES = ['localhost', 'cimd.test', '*.cimd.test'] as const;
export const TEST_CERT_IPS = ['127.0.0.1', '127.0.0.2', '::1'] as const;

let pending: Promise<TestCertificate> | undefined;

export function getTestCertificate(): Promise<TestCertificate> {
  pending ??= (async () => {
    const notBeforeDate = new Date(Date.now() - 60_000);
    const notAfterDate = new Date(Date.now() + 24 * 60 * 60 * 1000);
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            ...TEST_CERT_DNS_NAMES.map((value) => ({ type: 2 as const, value })),
            ...TEST_CERT_IPS.map((ip) => ({ type: 7 as const, ip })),
          ],
        },
      ],
    });
    return { key: pems.private, cert: pems.cert };
  })();
  return pending;
}
