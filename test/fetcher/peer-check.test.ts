/**
 * The fetcher's last line of defence: after connecting, the peer actually reached (`socket.remoteAddress`) must
 * pass the address policy too, whatever the lookup answered (draft-ietf-oauth-client-id-metadata-document-03 §9.6: the connector "re-checks
 * `socket.remoteAddress` after connecting"). To make the dialled address differ from the checked one, the TLS
 * connect call is intercepted and sent to another address than the one the checked lookup approved: the
 * situation of a resolver that changes its answer between the check and the dial.
 */
import tls from 'node:tls';
import { createFetcher, type Fetcher } from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { createAddressPolicy } from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

describe('peer re-check after connect', () => {
  let server: TestHttpsServer;
  let fetcher: Fetcher;
  const originalConnect = tls.connect;

  beforeAll(async () => {
    // Listens on 127.0.0.2; the lookup approves 127.0.0.1, and the dial is diverted to 127.0.0.2.
    server = await startHttpsServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      },
      { host: '127.0.0.2' },
    );
    const { cert } = await getTestCertificate();
    fetcher = createFetcher({
      // Loopback allowed (development exception), but 127.0.0.2 is on the deployment's deny-list.
      addressPolicy: createAddressPolicy({ allowLoopback: true, denyList: ['127.0.0.2/32'] }),
      ca: cert,
      timeoutMs: 2000,
      connectTimeoutMs: 1000,
      lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
        if (options?.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
        else callback(null, '127.0.0.1', 4);
      }) as never,
    });
  });
  afterAll(async () => {
    (tls as { connect: typeof tls.connect }).connect = originalConnect;
    await fetcher.close();
    await server.close();
  });

  test('a peer that is not the checked address is refused (rejected:address), and no response is read', async () => {
    const diverted: string[] = [];
    (tls as { connect: typeof tls.connect }).connect = ((options: tls.ConnectionOptions, ...rest: unknown[]) => {
      diverted.push(String(options.host));
      const { lookup: _checked, ...others } = options as tls.ConnectionOptions & { lookup?: unknown };
      return (originalConnect as (...args: unknown[]) => tls.TLSSocket)(
        { ...others, host: '127.0.0.2', servername: 'localhost' },
        ...rest,
      );
    }) as typeof tls.connect;
    const served = server.hits;
    await expect(fetcher.fetchDocument(`https://localhost:${server.port}/doc.json`)).rejects.toMatchObject({
      code: 'rejected:address',
    });
    expect(diverted.length).toBeGreaterThan(0);
    expect(server.hits).toBe(served);
  });
});
