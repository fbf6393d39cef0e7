/**
 * The fetcher's TLS identity check for IPv6 literals (the development exception's `https://[::1]:port`): Node
 * 22.23's own check matches no IP address SAN for an IPv6 host, so the fetcher matches those itself, and only
 * those, by address rather than by spelling.
 */
import type { PeerCertificate } from 'node:tls';
import { checkServerIdentity } from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';

const cert = (subjectaltname: string) => ({ subjectaltname, subject: {} }) as unknown as PeerCertificate;

describe('TLS server identity of IP literals', () => {
  test.each([
    ['::1', 'DNS:localhost, IP Address:0:0:0:0:0:0:0:1'],
    ['::1', 'IP Address:::1'],
    ['[::1]', 'IP Address:0:0:0:0:0:0:0:1'],
    ['2001:db8::5', 'IP Address:2001:DB8:0:0:0:0:0:5'],
  ])('%s matches the IP address SAN of %s', (host, sans) => {
    expect(checkServerIdentity(host, cert(sans))).toBeUndefined();
  });

  test.each([
    ['::1', 'DNS:localhost, IP Address:127.0.0.1'],
    ['::1', 'DNS:::1'],
    ['::2', 'IP Address:0:0:0:0:0:0:0:1'],
  ])('%s is refused for %s', (host, sans) => {
    expect(checkServerIdentity(host, cert(sans))).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  test("names and IPv4 literals keep Node's own check", () => {
    expect(checkServerIdentity('localhost', cert('DNS:localhost'))).toBeUndefined();
    expect(checkServerIdentity('127.0.0.1', cert('IP Address:127.0.0.1'))).toBeUndefined();
    expect(checkServerIdentity('app.example.com', cert('DNS:localhost'))).toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });
});
