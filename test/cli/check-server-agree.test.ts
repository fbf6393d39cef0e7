/**
 * Issue 22 item 2: `check` and the server are built by the same composition root (plugin/pipeline.ts), so with
 * the server's own options they agree on a policy refusal and on a development-exception refusal: the same
 * reason code, rule and detail, and neither fetches the document. The report compared is the one
 * `cimd check --json` prints (checkClientId's).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider } from 'oidc-provider';
import { type CimdEvent, type CimdOptions, createCimd } from 'oidc-provider-cimd';
import { checkClientId, checkDocument } from 'oidc-provider-cimd/check';
import { formatCheckReport } from '../../packages/cli/src/format-check.js';
import { createStyle } from '../../packages/cli/src/io.js';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider } from '../helpers/provider.js';

const REDIRECT = 'http://127.0.0.1:1455/cb';

describe('cimd check and the server agree (one composition root)', () => {
  let docs: TestHttpsServer;
  let cert: string;

  beforeAll(async () => {
    ({ cert } = await getTestCertificate());
    docs = await startHttpsServer((req, res) => {
      const cid = `${docs.url}${req.url}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client_id: cid, client_name: 'Agent', redirect_uris: [REDIRECT] }));
    });
  });
  afterAll(() => docs.close());

  test('a policy refusal: rejected:policy with the same detail, nothing fetched', async () => {
    const options: CimdOptions = {
      allowLoopback: true,
      ca: cert,
      policy: { allow: ['https://vscode.dev/redirect/client.json'] },
    };
    const cid = `${docs.url}/not-allowed.json`;
    const op = await startProvider({ cimd: options });
    try {
      const response = await startAuthorization(op.issuer, cid, REDIRECT);
      expect(response.status).toBe(400);
      const server = op.events.find((event) => event.cid === cid)!;
      expect(server.reason).toBe('rejected:policy');

      const report = await checkClientId(cid, { ...options, issuer: op.issuer });
      expect(report.accepted).toBe(false);
      expect(report.rejection).toMatchObject({ stage: 'policy', code: server.reason });
      const item = report.checks.find((check) => check.stage === 'policy')!;
      expect({ code: item.code, message: item.message }).toEqual({ code: server.reason, message: server.detail });
      expect(report.checks.find((check) => check.stage === 'fetch')?.status).toBe('skip');
      expect(docs.hits).toBe(0);
      // A local document for the same client id gets the same verdict.
      const local = checkDocument(JSON.stringify({ client_id: cid, client_name: 'Agent', redirect_uris: [REDIRECT] }), {
        ...options,
        issuer: op.issuer,
        clientId: cid,
      });
      expect(local.rejection).toMatchObject({ stage: 'policy', code: server.reason });
      // The human output of `cimd check` shows the policy stage and the verdict.
      const text = formatCheckReport(report, createStyle(false));
      expect(text).toMatch(/✗ policy +client_id is not on the allow list +\[rejected:policy\]/);
      expect(text).toContain('REJECTED rejected:policy');
    } finally {
      await op.close();
    }
  });

  test('report mode: both serve the client and report the would-be refusal', async () => {
    const options: CimdOptions = {
      allowLoopback: true,
      ca: cert,
      policy: { admission: 'report', allow: ['https://vscode.dev/redirect/client.json'] },
    };
    const cid = `${docs.url}/reported.json`;
    const op = await startProvider({ cimd: options });
    try {
      expect((await startAuthorization(op.issuer, cid, REDIRECT)).status).toBe(303);
      const server = op.events.find((event) => event.cid === cid && event.reason === 'would_deny')!;
      const report = await checkClientId(cid, { ...options, issuer: op.issuer });
      expect(report.accepted).toBe(true);
      const item = report.checks.find((check) => check.stage === 'policy')!;
      expect({ status: item.status, code: item.code }).toEqual({ status: 'warn', code: server.reason });
      expect(item.message).toContain(server.detail);
    } finally {
      await op.close();
    }
  });

  test('a development-exception refusal: rejected:url, rule development_exception, the same detail', async () => {
    const events: CimdEvent[] = [];
    const listener = http.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const local = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    // The option says loopback (so startup accepts allowLoopback); the provider's real issuer is public.
    const options: CimdOptions = { issuer: 'http://localhost:4000', allowLoopback: true, ca: cert };
    const cimd = createCimd({ ...options, failureBackoffMs: 0, onEvent: (event) => events.push(event) });
    const provider = new Provider('https://op.example.com', cimd.configure({}));
    listener.on('request', provider.callback());
    const cid = `${docs.url}/dev-exception.json`;
    const hitsBefore = docs.hits;
    try {
      expect((await startAuthorization(local, cid, REDIRECT)).status).toBe(400);
      const server = events.find((event) => event.cid === cid)!;
      expect({ reason: server.reason, rule: server.rule }).toEqual({
        reason: 'rejected:url',
        rule: 'development_exception',
      });

      const report = await checkClientId(cid, { ...options, providerIssuer: 'https://op.example.com' });
      expect(report.rejection).toMatchObject({ stage: 'url', code: server.reason, rule: server.rule });
      const item = report.checks.find((check) => check.status === 'fail')!;
      expect(item.message).toBe(server.detail);
      expect(docs.hits).toBe(hitsBefore);
      // Served by a loopback provider, the same options are honoured by both.
      expect((await checkClientId(cid, options)).rejection?.rule).not.toBe('development_exception');
    } finally {
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await cimd.close();
    }
  });
});
