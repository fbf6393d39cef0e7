/**
 * `pnpm demo`: one complete Client ID Metadata Document authorization, offline, in a few seconds.
 *
 * A demo client publishes its metadata document at https://localhost:<port>/... (certificate made now and
 * trusted by the server process only), the example server runs with a loopback issuer and the development
 * exception, and the demo walks authorization code + PKCE like an MCP client and its user would: discovery,
 * document fetched by the server, login, consent (with its loopback warning), code, tokens, and a tool call
 * on the protected MCP resource. Exit code 0 on success; otherwise 1, naming the step that failed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DemoBrowser, describePage, formAction, textOf } from './demo/browser.js';
import { createDemoCertificate } from './demo/certificate.js';
import { type DemoClient, startDemoClient } from './demo/client.js';
import { type ServerProcess, startServerProcess } from './demo/server-process.js';

const print = (text = '') => process.stdout.write(`${text}\n`);
const ok = (text: string) => print(`    ✔ ${text}`);
const note = (text: string) => print(`      ${text}`);

let stepNumber = 0;
let stepTitle = 'start';
function step(title: string) {
  stepNumber += 1;
  stepTitle = title;
  print();
  print(`[${stepNumber}] ${title}`);
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function getJson(url: string | URL): Promise<Record<string, unknown>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  check(response.ok, `GET ${url} answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

function jwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  check(part, 'the access token is not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const cleanups: Array<() => Promise<void>> = [];
let server: ServerProcess | undefined;

async function run(): Promise<void> {
  print('oidc-provider-cimd demo: a client identified by a URL authorizes against the example server.');
  print('Everything runs on this machine; nothing is registered beforehand.');

  // ---------------------------------------------------------------------------------------------------------
  step('Demo client: publish the client metadata document over HTTPS');
  const certificate = await createDemoCertificate();
  cleanups.push(() => certificate.remove());
  const client: DemoClient = await startDemoClient(certificate);
  cleanups.push(() => client.close());
  ok(`client_id = ${client.clientId}`);
  for (const line of JSON.stringify(client.document, null, 2).split('\n')) note(line);
  ok(`redirect URI for this run: ${client.redirectUri} (loopback: any port matches, RFC 8252 §7.3)`);

  // ---------------------------------------------------------------------------------------------------------
  step('Start the authorization server (examples/koa-server, loopback issuer, development exception)');
  server = await startServerProcess({ PORT: '0', CIMD_ALLOW_LOOPBACK: 'true', CIMD_EXTRA_CA: certificate.caPath });
  const running = server;
  ok(String(running.startup.message));
  note(`CIMD_ALLOW_LOOPBACK=true, CIMD_EXTRA_CA=${certificate.caPath} (only this process trusts the certificate)`);
  const issuer = running.issuer;
  const mcpUrl = String(running.startup.mcp);

  // ---------------------------------------------------------------------------------------------------------
  step('Discovery, as an MCP client does it');
  const unauthenticated = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    signal: AbortSignal.timeout(10_000),
  });
  await unauthenticated.body?.cancel();
  const challenge = unauthenticated.headers.get('www-authenticate') ?? '';
  check(unauthenticated.status === 401, `POST ${mcpUrl} without a token answered ${unauthenticated.status}, not 401`);
  const resourceMetadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
  check(resourceMetadataUrl, `the 401 has no resource_metadata: ${challenge}`);
  ok(`POST ${mcpUrl} without a token → 401, WWW-Authenticate: ${challenge}`);
  const resourceMetadata = await getJson(resourceMetadataUrl);
  const authorizationServer = (resourceMetadata.authorization_servers as string[] | undefined)?.[0];
  check(authorizationServer === issuer, `protected resource metadata names ${authorizationServer}, not ${issuer}`);
  ok(
    `protected resource metadata (RFC 9728): resource ${resourceMetadata.resource}, authorization server ${authorizationServer}`,
  );
  const metadata = await getJson(`${authorizationServer}/.well-known/oauth-authorization-server`);
  check(metadata.client_id_metadata_document_supported === true, 'the server does not announce CIMD support');
  check((metadata.code_challenge_methods_supported as string[]).includes('S256'), 'the server lacks PKCE S256');
  ok('authorization server metadata: client_id_metadata_document_supported = true, PKCE S256');
  note('→ the client uses its document URL as client_id and registers nothing.');

  // ---------------------------------------------------------------------------------------------------------
  step('Authorization request (authorization code + PKCE S256)');
  const browser = new DemoBrowser();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const scope = ((resourceMetadata.scopes_supported as string[] | undefined) ?? []).join(' ');
  const authorizationUrl = new URL(String(metadata.authorization_endpoint));
  authorizationUrl.search = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    scope,
    resource: String(resourceMetadata.resource),
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  note(`GET ${authorizationUrl.origin}${authorizationUrl.pathname}`);
  for (const [name, value] of authorizationUrl.searchParams) note(`    ${name}=${value}`);
  const authorizationResponse = await browser.request(authorizationUrl);
  check(
    authorizationResponse.status === 303 && authorizationResponse.location?.pathname.startsWith('/interaction/'),
    `expected a redirect to the login page, got ${describePage(authorizationResponse)}`,
  );
  const fetched = await running.waitFor((line) => line.event === 'cimd' && line.cid === client.clientId);
  check(fetched.reason === 'fetched', `the server's plugin event is ${JSON.stringify(fetched)}`);
  ok(`the server fetched the document: ${JSON.stringify(fetched)}`);
  check(client.documentHits === 1, `the document was requested ${client.documentHits} times`);
  const loginPage = await browser.follow(authorizationResponse, issuer);
  check(loginPage.status === 200 && formAction(loginPage, '/login'), `no login page: ${describePage(loginPage)}`);
  ok(`login page: "Sign in to continue to ${textOf(loginPage, 'client-host')}"`);

  // ---------------------------------------------------------------------------------------------------------
  step('Log in (any login, password "demo")');
  const afterLogin = await browser.follow(
    await browser.request(formAction(loginPage, '/login')!, { login: 'alice', password: 'demo' }),
    issuer,
  );
  check(
    afterLogin.status === 200 && formAction(afterLogin, '/confirm'),
    `no consent page: ${describePage(afterLogin)}`,
  );
  ok('signed in as alice → consent page');

  // ---------------------------------------------------------------------------------------------------------
  step('Consent');
  ok(`application (host of its client_id): ${textOf(afterLogin, 'client-host')}`);
  ok(`you will be sent back to: ${textOf(afterLogin, 'redirect-host')}`);
  ok(`name supplied by the application: ${textOf(afterLogin, 'client-name')}`);
  const warning = textOf(afterLogin, 'loopback-warning', 'div');
  check(warning, 'the consent page shows no warning for this loopback-only client');
  ok(`warning shown: "${warning}"`);
  const afterConsent = await browser.follow(await browser.request(formAction(afterLogin, '/confirm')!, {}), issuer);
  check(
    afterConsent.location?.href.startsWith(`${client.redirectUri}?`),
    `expected a redirect to ${client.redirectUri}, got ${afterConsent.status} ${afterConsent.location ?? ''}`,
  );
  ok('allowed');

  // ---------------------------------------------------------------------------------------------------------
  step("Authorization response at the client's loopback redirect URI");
  await browser.request(afterConsent.location!);
  const query = await Promise.race([
    client.callback,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the callback never arrived')), 5000).unref()),
  ]);
  check(!query.get('error'), `the server answered ${query.get('error')}: ${query.get('error_description')}`);
  check(query.get('state') === state, 'state does not match');
  check(query.get('iss') === issuer, `iss is ${query.get('iss')}, expected ${issuer}`);
  const code = query.get('code');
  check(code, 'no code in the authorization response');
  ok(`${client.redirectUri}?code=${code.slice(0, 8)}…&state=…&iss=${issuer} (state and iss checked)`);

  // ---------------------------------------------------------------------------------------------------------
  step('Token request (public client: client_id + code_verifier, no secret)');
  const tokenResponse = await fetch(String(metadata.token_endpoint), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: verifier,
      client_id: client.clientId,
      resource: String(resourceMetadata.resource),
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const tokens = (await tokenResponse.json()) as Record<string, unknown>;
  check(tokenResponse.status === 200, `the token endpoint answered ${tokenResponse.status}: ${JSON.stringify(tokens)}`);
  const accessToken = String(tokens.access_token);
  const claims = jwtPayload(accessToken);
  ok(`${tokens.token_type} access token, expires in ${tokens.expires_in} s, scope "${tokens.scope}"`);
  note(`JWT claims: iss ${claims.iss}, aud ${claims.aud}, sub ${claims.sub}, client_id ${claims.client_id}`);
  if (tokens.refresh_token) note('a refresh token was issued too');

  // ---------------------------------------------------------------------------------------------------------
  step('Call the protected MCP resource with the access token');
  const mcp = new Client({ name: 'cimd-demo-cli', version: '1.0.0' });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    }),
  );
  try {
    const { tools } = await mcp.listTools();
    ok(`tools/list → ${tools.map((tool) => tool.name).join(', ')}`);
    const result = await mcp.callTool({ name: 'whoami', arguments: {} });
    const text = (result.content as Array<{ type: string; text?: string }>).find((c) => c.type === 'text')?.text;
    check(text?.includes(client.clientId), `unexpected tool result: ${JSON.stringify(result)}`);
    ok(`tools/call whoami → "${text}"`);
  } finally {
    await mcp.close();
  }
}

const startedAt = performance.now();
const watchdog = setTimeout(() => {
  print(`\n✘ Step ${stepNumber} (${stepTitle}) did not finish within 50 s.`);
  server?.kill();
  process.exit(1);
}, 50_000);
watchdog.unref();

let exitCode = 0;
try {
  await run();
  print();
  print(`✔ Complete CIMD authorization in ${((performance.now() - startedAt) / 1000).toFixed(1)} s.`);
} catch (error) {
  exitCode = 1;
  print();
  print(`✘ Step ${stepNumber} (${stepTitle}) failed: ${(error as Error).message}`);
  const tail = server?.stderrTail();
  if (tail) {
    print('  server stderr (last lines):');
    for (const line of tail.split('\n').slice(-15)) print(`    ${line}`);
  }
} finally {
  await server?.stop();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(exitCode);
