/**
 * The example's configuration, read from environment variables. Everything has a default, so `pnpm start`
 * with no environment at all gives a working development server on http://localhost:3000.
 *
 * | Variable              | Default                  | Meaning                                                      |
 * | --------------------- | ------------------------ | ------------------------------------------------------------ |
 * | `PORT`                | `3000`                   | TCP port (`0`: any free port, the issuer follows it).        |
 * | `ISSUER`              | `http://localhost:$PORT` | The issuer identifier; origin only (the provider is at `/`). |
 * | `REDIS_URL`           | unset: in-memory cache   | Shared cache for client metadata documents.                  |
 * | `CIMD_ENABLED`        | `true`                   | Accept Client ID Metadata Document clients.                  |
 * | `DCR_ENABLED`         | `true`                   | Dynamic Client Registration (`registration_endpoint`).       |
 * | `CIMD_ALLOW_LOOPBACK` | `false`                  | Development exception: documents on `localhost`.            |
 * | `CIMD_EXTRA_CA`       | unset                    | PEM file of a CA trusted for document hosts.                 |
 * | `CIMD_ALLOW`          | unset: any public id     | Comma-separated allow-list: ids, `host`, `*.host`.          |
 * | `CIMD_DENY`           | unset                    | Comma-separated deny-list, same patterns; wins over allow.   |
 * | `METRICS`             | `false`                  | Serve Prometheus metrics of plugin events at `/metrics`.     |
 */

export interface ExampleEnv {
  port: number;
  /** `undefined`: `http://localhost:<port actually bound>`. */
  issuer: string | undefined;
  redisUrl: string | undefined;
  cimdEnabled: boolean;
  dcrEnabled: boolean;
  allowLoopback: boolean;
  extraCaPath: string | undefined;
  /** Trust policy patterns (spec §7). */
  allow: string[];
  deny: string[];
  metrics: boolean;
}

/** A variable with a value this example cannot use; the message names the variable. */
export class EnvError extends Error {
  override readonly name = 'EnvError';
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function readBoolean(source: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = source[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw new EnvError(`${name} must be true or false, got ${JSON.stringify(source[name])}`);
}

function readPort(source: NodeJS.ProcessEnv): number {
  const raw = source.PORT?.trim();
  if (raw === undefined || raw === '') return 3000;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new EnvError(`PORT must be a port number, got ${JSON.stringify(raw)}`);
  return port;
}

function readIssuer(source: NodeJS.ProcessEnv): string | undefined {
  const raw = source.ISSUER?.trim();
  if (raw === undefined || raw === '') return undefined;
  const url = URL.parse(raw);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new EnvError(`ISSUER must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  // The example mounts the provider, its pages and the MCP endpoint at the root of one origin.
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new EnvError(
      `ISSUER must be an origin such as https://auth.example.com (no path), got ${JSON.stringify(raw)}`,
    );
  }
  return url.origin;
}

function readOptional(source: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = source[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

function readList(source: NodeJS.ProcessEnv, name: string): string[] {
  return (readOptional(source, name) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

export function parseEnv(source: NodeJS.ProcessEnv = process.env): ExampleEnv {
  return {
    port: readPort(source),
    issuer: readIssuer(source),
    redisUrl: readOptional(source, 'REDIS_URL'),
    cimdEnabled: readBoolean(source, 'CIMD_ENABLED', true),
    dcrEnabled: readBoolean(source, 'DCR_ENABLED', true),
    allowLoopback: readBoolean(source, 'CIMD_ALLOW_LOOPBACK', false),
    extraCaPath: readOptional(source, 'CIMD_EXTRA_CA'),
    allow: readList(source, 'CIMD_ALLOW'),
    deny: readList(source, 'CIMD_DENY'),
    metrics: readBoolean(source, 'METRICS', false),
  };
}

/** The issuer to use once the server knows the port it is listening on. */
export function resolveIssuer(env: Pick<ExampleEnv, 'issuer'>, boundPort: number): string {
  return env.issuer ?? `http://localhost:${boundPort}`;
}
