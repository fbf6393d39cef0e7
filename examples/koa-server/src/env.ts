/**
 * The example's configuration, read from environment variables. Everything has a default, so `pnpm start`
 * with no environment at all gives a working development server on http://localhost:3000.
 *
 * | Variable              | Default                  | Meaning                                                      |
 * | --------------------- | ------------------------ | ------------------------------------------------------------ |
 * | `PORT`                | `3000`                   | TCP port (`0`: any free port, the issuer follows it).        |
 * | `ISSUER`              | `http://localhost:$PORT` | The issuer identifier; origin only (the provider is at `/`). |
 * | `REDIS_URL`           | unset: in-memory cache   | Shared cache for client metadata documents (`redis[s]://`).  |
 * | `REDIS_CLUSTER`       | asked from the server    | `true`: `REDIS_URL` is a Redis Cluster node (any node).      |
 * | `REDIS_SENTINELS`     | unset                    | `host:port,...` of Redis Sentinels, instead of `REDIS_URL`.  |
 * | `REDIS_SENTINEL_NAME` | unset                    | The primary's name at the sentinels (with `REDIS_SENTINELS`). |
 * | `CIMD_ENABLED`        | `true`                   | Accept Client ID Metadata Document clients.                  |
 * | `DCR_ENABLED`         | `true`                   | Dynamic Client Registration (`registration_endpoint`).       |
 * | `CIMD_ALLOW_LOOPBACK` | `false`                  | Development exception: documents on `localhost`.            |
 * | `CIMD_EXTRA_CA`       | unset                    | PEM file of a CA trusted for document hosts.                 |
 * | `CIMD_ADMISSION`      | see below                | `open`, `allowlist` or `report` (see the README).            |
 * | `CIMD_ALLOW`          | unset: any public id     | Comma-separated allow-list: ids, URL patterns, `host`, `*.host`, `known`. |
 * | `CIMD_DENY`           | unset                    | Comma-separated deny-list, same patterns; wins over allow.   |
 * | `CIMD_TRANSPORT_FALLBACK_S` | `0` (off)          | Serve the last valid copy this long past its lifetime on transport failures (≤ 604800). |
 * | `METRICS`             | `false`                  | Serve Prometheus metrics at `/metrics` (`/health` is always served). |
 * | `LOG_LEVEL`           | `info`                   | `debug` (every lookup), `info`, `warn` or `error`.          |
 *
 * `CIMD_ADMISSION` unset means `allowlist` when `CIMD_ALLOW` is set, `open` otherwise. In `CIMD_ALLOW` and
 * `CIMD_DENY`, the word `known` stands for the plugin's known-clients catalog.
 */
import { type AdmissionMode, compilePatterns, redisOptionsFromEnv } from 'oidc-provider-cimd';
import { LOG_LEVELS, type LogLevel } from './log.js';

export interface ExampleEnv {
  port: number;
  /** `undefined`: `http://localhost:<port actually bound>`. */
  issuer: string | undefined;
  redisUrl: string | undefined;
  /** `REDIS_CLUSTER`; `undefined`: the plugin asks the server whether it is a cluster node. */
  redisCluster: boolean | undefined;
  /** `REDIS_SENTINELS` and `REDIS_SENTINEL_NAME`: a Sentinel-managed primary (instead of `REDIS_URL`). */
  redisSentinels: string | undefined;
  redisSentinelName: string | undefined;
  cimdEnabled: boolean;
  dcrEnabled: boolean;
  allowLoopback: boolean;
  extraCaPath: string | undefined;
  /** Trust policy (draft-ietf-oauth-client-id-metadata-document-03 §9.9): the admission mode and the patterns. */
  admission: AdmissionMode;
  allow: string[];
  deny: string[];
  /** Transport fallback, seconds past a document's lifetime; 0: off. */
  transportFallbackS: number;
  metrics: boolean;
  /** The lowest level logged; `debug` adds a line per routine lookup (cache hits). */
  logLevel: LogLevel;
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

/**
 * `REDIS_URL` must be a `redis://` or `rediss://` URL. The message never repeats the value: it may hold a
 * password.
 */
export function checkRedisUrl(value: string): string {
  const url = URL.parse(value);
  if (!url) throw new EnvError('REDIS_URL must be a redis:// or rediss:// URL; the value given is not a URL');
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new EnvError(`REDIS_URL must be a redis:// or rediss:// URL; the value given starts with ${url.protocol}//`);
  }
  return value;
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

/** A pattern list the plugin would refuse stops startup here, with the variable's name. */
function readPatterns(source: NodeJS.ProcessEnv, name: string): string[] {
  const patterns = readList(source, name);
  try {
    compilePatterns(patterns);
  } catch (error) {
    throw new EnvError(`${name}: ${(error as Error).message.replace(/^oidc-provider-cimd: /, '')}`);
  }
  return patterns;
}

const ADMISSION_MODES: readonly AdmissionMode[] = ['open', 'allowlist', 'report'];

function readAdmission(source: NodeJS.ProcessEnv, allow: string[]): AdmissionMode {
  const raw = readOptional(source, 'CIMD_ADMISSION');
  if (raw === undefined) return allow.length > 0 ? 'allowlist' : 'open';
  const mode = raw.toLowerCase() as AdmissionMode;
  if (!ADMISSION_MODES.includes(mode)) {
    throw new EnvError(`CIMD_ADMISSION must be open, allowlist or report, got ${JSON.stringify(raw)}`);
  }
  if (mode === 'open' && allow.length > 0) {
    throw new EnvError(
      'CIMD_ADMISSION=open admits every client, so CIMD_ALLOW would have no effect: use allowlist to enforce it or report to try it out',
    );
  }
  if (mode !== 'open' && allow.length === 0) {
    throw new EnvError(`CIMD_ADMISSION=${mode} needs CIMD_ALLOW (patterns, or the word known for the catalog)`);
  }
  return mode;
}

/** Seconds, at most 7 days (the plugin's bound on the transport fallback). */
const MAX_TRANSPORT_FALLBACK_S = 7 * 24 * 60 * 60;

function readTransportFallback(source: NodeJS.ProcessEnv): number {
  const raw = readOptional(source, 'CIMD_TRANSPORT_FALLBACK_S');
  if (raw === undefined) return 0;
  const seconds = Number(raw);
  if (!/^\d+$/.test(raw) || seconds > MAX_TRANSPORT_FALLBACK_S) {
    throw new EnvError(
      `CIMD_TRANSPORT_FALLBACK_S must be a whole number of seconds from 0 (off) to ${MAX_TRANSPORT_FALLBACK_S} (7 days), got ${JSON.stringify(raw)}`,
    );
  }
  return seconds;
}

function mapOptional<T>(value: string | undefined, check: (value: string) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}

/** The Redis connection variables, checked together by the plugin's own reader (the one the CLI uses too). */
function readRedis(source: NodeJS.ProcessEnv) {
  mapOptional(readOptional(source, 'REDIS_URL'), checkRedisUrl);
  try {
    return redisOptionsFromEnv(source);
  } catch (error) {
    throw new EnvError((error as Error).message);
  }
}

function readLogLevel(source: NodeJS.ProcessEnv): LogLevel {
  const raw = readOptional(source, 'LOG_LEVEL')?.toLowerCase();
  if (raw === undefined) return 'info';
  if (!(LOG_LEVELS as string[]).includes(raw)) {
    throw new EnvError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(source.LOG_LEVEL)}`);
  }
  return raw as LogLevel;
}

export function parseEnv(source: NodeJS.ProcessEnv = process.env): ExampleEnv {
  const allow = readPatterns(source, 'CIMD_ALLOW');
  const redis = readRedis(source);
  return {
    port: readPort(source),
    issuer: readIssuer(source),
    redisUrl: mapOptional(readOptional(source, 'REDIS_URL'), checkRedisUrl),
    redisCluster: redis?.cluster,
    redisSentinels: redis?.sentinels === undefined ? undefined : String(redis.sentinels),
    redisSentinelName: redis?.sentinelName,
    cimdEnabled: readBoolean(source, 'CIMD_ENABLED', true),
    dcrEnabled: readBoolean(source, 'DCR_ENABLED', true),
    allowLoopback: readBoolean(source, 'CIMD_ALLOW_LOOPBACK', false),
    extraCaPath: readOptional(source, 'CIMD_EXTRA_CA'),
    admission: readAdmission(source, allow),
    allow,
    deny: readPatterns(source, 'CIMD_DENY'),
    transportFallbackS: readTransportFallback(source),
    metrics: readBoolean(source, 'METRICS', false),
    logLevel: readLogLevel(source),
  };
}

/** The issuer to use once the server knows the port it is listening on. */
export function resolveIssuer(env: Pick<ExampleEnv, 'issuer'>, boundPort: number): string {
  return env.issuer ?? `http://localhost:${boundPort}`;
}
