/**
 * Entry point (`pnpm start`): reads the environment, listens, and logs one JSON object per line on stdout —
 * a `startup` line, then a `cimd` line per plugin event worth reading (each with its `reason`; routine cache
 * hits only with `LOG_LEVEL=debug`), and the shared store's state changes (`store_down`, `store_up`). Every line starts with
 * `time` (ISO 8601), `level` and `event` (log.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ExampleApp } from './app.js';
import { type ExampleEnv, parseEnv, resolveIssuer } from './env.js';
import { atLeast, cimdLogEntry, jsonLines } from './log.js';
import { protectedResourceMetadataUrl } from './mcp.js';

const write = jsonLines((text) => process.stdout.write(text));
let line = write;

function fail(message: string): never {
  process.stderr.write(`koa-server: cannot start: ${message}\n`);
  process.exit(1);
}

let env: ExampleEnv;
try {
  env = parseEnv();
} catch (error) {
  fail((error as Error).message);
}

line = atLeast(env.logLevel, write);

// Listen first so that PORT=0 works: the issuer then follows the port actually bound. Requests that arrive
// before the app is ready get a 503.
let handler: http.RequestListener = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));
server.on('error', (error) => fail(error.message));
await new Promise<void>((resolve) => server.listen(env.port, resolve));
const { port } = server.address() as AddressInfo;
const issuer = resolveIssuer(env, port);

let example: ExampleApp;
try {
  example = await createApp({
    ...env,
    issuer,
    onEvent: (event) => line(cimdLogEntry(event)),
    log: line,
  });
} catch (error) {
  server.close();
  fail((error as Error).message);
}
handler = example.app.callback();

line({
  event: 'startup',
  issuer,
  port,
  cimd: env.cimdEnabled ? 'enabled' : 'disabled',
  dcr: env.dcrEnabled ? 'enabled' : 'disabled',
  allowLoopback: env.allowLoopback,
  admission: env.admission,
  transportFallbackS: env.transportFallbackS,
  cache: env.redisSentinels
    ? 'redis-sentinel'
    : env.redisUrl
      ? env.redisCluster
        ? 'redis-cluster'
        : 'redis'
      : 'memory',
  discovery: `${issuer}/.well-known/openid-configuration`,
  mcp: example.mcpResource,
  protectedResourceMetadata: protectedResourceMetadataUrl(example.mcpResource),
  message: `oidc-provider listening on ${issuer} (CIMD ${env.cimdEnabled ? 'on' : 'off'}, DCR ${env.dcrEnabled ? 'on' : 'off'}${env.allowLoopback ? ', loopback documents allowed: development only' : ''})`,
});

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  line({ event: 'shutdown', signal });
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await example.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
