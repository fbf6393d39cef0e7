/**
 * `cimd`: check a Client ID Metadata Document as an oidc-provider-cimd server would, and operate a
 * deployment's cache of them.
 *
 *   main(argv, io) → exit code: 0 accepted / done, 1 rejected / failed, 2 usage error.
 *
 * Every rule comes from the plugin (`checkClientId`, `checkDocument`, `createCimd`); this file parses
 * arguments, reads files and formats.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { adviseClients, knownClientFor } from 'oidc-provider-cimd';
import {
  type CheckOptions,
  type CheckReport,
  capabilitiesFromServerMetadata,
  checkClientId,
  checkDocument,
  DEFAULT_CHECK_ISSUER,
  DEFAULT_LOOPBACK_CHECK_ISSUER,
} from 'oidc-provider-cimd/check';
import { formatAdvice } from './advise.js';
import { catalogDocuments, catalogDrift, formatDrift } from './catalog.js';
import { clientsJson, formatClients } from './clients.js';
import { formatCheckReport } from './format-check.js';
import { colourFor, createProgress, createStyle, type Io, processIo } from './io.js';
import { explainNetworkError } from './network-errors.js';
import { sanitizeDeep } from './sanitize.js';
import {
  errorJson,
  errorLine,
  formatEntry,
  formatInspection,
  inspectionJson,
  openStore,
  type RedisConnection,
  redisConnectionFrom,
  type StoreOptions,
  StoreUnavailableError,
} from './store.js';

export type { Io } from './io.js';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;

/** Errors may come from another realm (node:util under a test VM), so no instanceof Error here. */
const messageOf = (error: unknown): string =>
  typeof (error as { message?: unknown })?.message === 'string' ? (error as Error).message : String(error);

/** A configuration the plugin refuses (CimdOptionError, by its stable code; or a plain TypeError). */
const isConfigurationError = (error: unknown): boolean => {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return (typeof code === 'string' && code.startsWith('CIMD_')) || name === 'TypeError';
};

class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string) {
    // Printed after "cimd <command>: ", so a message carrying its own prefix (the plugin's "oidc-provider-cimd: ",
    // a "cimd <command>" of a lower layer) would say it twice.
    super(message.replace(/^(?:oidc-provider-cimd: |cimd [a-z]+:? )/, ''));
  }
}

const USAGE = `Usage: cimd <command> [options]

Commands
  check <url | file>     check a client metadata document as the server would
  advise <issuer>        predict, for every known client, the client id and auth method it will use with this
                         server, and what will fail
  clients                list the CIMD clients the deployment has seen (names, last outcome, users)
  inspect <client_id>    show the cached entry of a client in the deployment's store
  refresh <client_id>    fetch a client's document now (replaces the entry only if valid)
  purge <client_id>      remove a client from the store
  pin <client_id>        pre-register a client: store its validated document, pinned (no fetches until unpinned)
  unpin <client_id>      remove a pin
  catalog drift          fetch every known client's document and compare it with the snapshot shipped here

Run "cimd <command> --help" for the options of a command.
Exit status: 0 accepted / done, 1 rejected / failed, 2 usage error.
`;

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in the help (string options). */
  arg?: string;
  help: string;
}
type OptionGroup = Record<string, OptionSpec>;

// Each command lists exactly the options it accepts: its help is generated from the same table the parser uses.
const OUTPUT: OptionGroup = {
  json: { type: 'boolean', help: 'print JSON' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};
const TLS: OptionGroup = {
  ca: {
    type: 'string',
    multiple: true,
    arg: 'FILE',
    help: 'also trust this PEM certificate (a private CA, a local test certificate; repeatable)',
  },
};
// The URL rules (which client ids may be named at all), for every command that takes a client id.
const URL_RULES: OptionGroup = {
  issuer: {
    type: 'string',
    arg: 'URL',
    help: `the authorization server's issuer (own-origin rule; default ${DEFAULT_CHECK_ISSUER})`,
  },
  'allow-loopback': {
    type: 'boolean',
    help: `development exception: loopback client ids and addresses (needs a loopback issuer; default issuer then ${DEFAULT_LOOPBACK_CHECK_ISSUER})`,
  },
};
// For the commands that fetch a document.
const FETCH: OptionGroup = {
  ...URL_RULES,
  ...TLS,
  'server-metadata': {
    type: 'string',
    arg: 'SRC',
    help: "the server's discovery document (file, metadata URL or issuer URL): check against what it supports instead of oidc-provider's defaults",
  },
};
const STORE: OptionGroup = {
  redis: {
    type: 'string',
    arg: 'URL',
    help: "the deployment's Redis, or any node of its Redis Cluster (default: $REDIS_URL)",
  },
  cluster: {
    type: 'boolean',
    help: 'the URL is a Redis Cluster node (default: asked from the server; $REDIS_CLUSTER)',
  },
  sentinels: {
    type: 'string',
    arg: 'LIST',
    help: 'host:port,... of the sentinels of a Sentinel-managed primary (default: $REDIS_SENTINELS)',
  },
  'sentinel-name': {
    type: 'string',
    arg: 'NAME',
    help: "the primary's name at the sentinels (default: $REDIS_SENTINEL_NAME)",
  },
  namespace: {
    type: 'string',
    arg: 'NAME',
    help: "the key namespace the deployment uses (createRedisCache's namespace option)",
  },
};

interface CommandSpec {
  usage: string;
  description: string;
  options: OptionGroup;
  exit?: string;
}

const COMMANDS: Record<string, CommandSpec> = {
  check: {
    usage: 'cimd check <url | file> [options]',
    description: `Runs the server's rules on a client metadata document: the client_id URL rules, one guarded fetch (status,
content type, size, cache headers), and the document rules. Reports each rule as pass (✓), warning (!) or
failure (✗), with the reason code the server would log and a one-line fix, and shows the client as the
provider would see it, with the warnings its consent page will show. A file is checked without any network
access (document rules only).`,
    options: {
      'client-id': { type: 'string', arg: 'URL', help: 'for a file: the URL the document will be served from' },
      'redirect-uri': { type: 'string', arg: 'URI', help: 'also check whether this redirect URI would be accepted' },
      verbose: { type: 'boolean', short: 'v', help: 'list every rule, including the ones that pass' },
      ...FETCH,
      ...OUTPUT,
    },
    exit: 'Exit status: 0 the server would accept it, 1 it would reject it, 2 usage error.',
  },
  advise: {
    usage: 'cimd advise <issuer | metadata URL | file> [options]',
    description: `Reads the authorization server's metadata and predicts, for every client of the known-clients catalog,
the client id it will present to this server, the token endpoint authentication method it will use, and what
will fail (no "none", no S256, no RFC 9207 "iss" parameter, no "openid" scope), each with its source.`,
    options: { ...TLS, ...OUTPUT },
    exit: 'Exit status: 0 every known client can connect, 1 at least one will fail, 2 usage error.',
  },
  clients: {
    usage: 'cimd clients [options]',
    description: `Lists the CIMD clients the deployment's servers have seen, from the client registry in the shared store: the
client's name (from its cached document, else the known-clients catalog), first and last seen, the reason code
of the last resolution (fetched, cache_hit, would_deny, rejected:status, ...), and the number of distinct users
who authorized it (counted by hash; account ids are never stored). Most recently seen first. Servers write the
registry every few seconds.`,
    options: { ...STORE, ...URL_RULES, ...OUTPUT },
  },
  inspect: {
    usage: 'cimd inspect <client_id> [options]',
    description: `Shows the entry the deployment's store holds for a client: freshness, pin, validators, the normalised client.`,
    options: { ...STORE, ...URL_RULES, ...OUTPUT },
    exit: 'Exit status 1 when the client is not cached.',
  },
  refresh: {
    usage: 'cimd refresh <client_id> [options]',
    description: `Fetches the client's document now and replaces the cached entry if, and only if, the new one is valid. A
pinned client stays pinned.`,
    options: { ...STORE, ...FETCH, ...OUTPUT },
    exit: 'Exit status 1 when the fetch or the document is rejected (the entry is unchanged).',
  },
  purge: {
    usage: 'cimd purge <client_id> [options]',
    description:
      'Removes a client from the store (a pinned one included); the next authorization request fetches it again.',
    options: { ...STORE, ...URL_RULES, ...OUTPUT },
  },
  pin: {
    usage: 'cimd pin <client_id> [--from-file doc.json] [options]',
    description: `Pre-registers a client (draft §7.2): validates its document now, fetched from the client_id or read from a
file (whose client_id must be this one), and stores it pinned. The server then serves the client without
fetching its document, for example when the client's host blocks server-side requests, until "cimd unpin".`,
    options: {
      'from-file': { type: 'string', arg: 'FILE', help: 'take the document from this file instead of fetching it' },
      ...STORE,
      ...FETCH,
      ...OUTPUT,
    },
  },
  unpin: {
    usage: 'cimd unpin <client_id> [options]',
    description: 'Removes a pin (and the pinned entry): the next authorization request fetches the document again.',
    options: { ...STORE, ...URL_RULES, ...OUTPUT },
    exit: 'Exit status 1 when the client was not pinned.',
  },
  catalog: {
    usage: 'cimd catalog drift [options]',
    description: `Fetches the document of every client of the known-clients catalog through the server's guarded fetcher and
compares it with the snapshot shipped with this version: status, client_id, token endpoint auth method, and
redirect_uris added or removed. Run it before a release to refresh the catalog.`,
    options: { ...TLS, ...OUTPUT },
    exit: 'Exit status: 0 no drift, 1 drift (or a document could not be fetched), 2 usage error.',
  },
};

/** The help of one command, from its option table. */
export function commandHelp(command: string): string {
  const spec = COMMANDS[command];
  if (!spec) return USAGE;
  const rows = Object.entries(spec.options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : ''}--${name}${option.arg ? ` ${option.arg}` : ''}`;
    return [flag, option.help] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`);
  return `Usage: ${spec.usage}

${spec.description}

Options
${lines.join('\n')}
${spec.exit ? `\n${spec.exit}\n` : ''}`;
}

/** The parser's view of a command's options (without the help texts). */
function parserOptions(command: string) {
  const spec = COMMANDS[command];
  if (!spec) return undefined;
  return Object.fromEntries(
    Object.entries(spec.options).map(([name, { type, short, multiple }]) => [
      name,
      { type, ...(short ? { short } : {}), ...(multiple ? { multiple } : {}) },
    ]),
  );
}

type Values = Record<string, string | boolean | string[] | undefined>;

interface Context {
  io: Io;
  values: Values;
  json: boolean;
  style: ReturnType<typeof createStyle>;
}

const str = (values: Values, name: string): string | undefined => values[name] as string | undefined;

async function readInput(io: Io, file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path.resolve(io.cwd, file));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what} ${file}${code ? ` (${code})` : ''}`);
  }
}

async function readCa(ctx: Context): Promise<string[] | undefined> {
  const files = ctx.values.ca as string[] | undefined;
  if (!files || files.length === 0) return undefined;
  const pems: string[] = [];
  for (const file of files) {
    const pem = (await readInput(ctx.io, file, 'certificate file')).toString('utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`${file} is not a PEM certificate`);
    pems.push(pem);
  }
  return pems;
}

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`answered ${status}, not 200`);
  }
}

/** GET a JSON document from the operator's own server (not a client-supplied URL: no SSRF guard needed). */
function getJson(url: URL, ca: string[] | undefined): Promise<unknown> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.get(
      url,
      { headers: { accept: 'application/json' }, timeout: 10_000, ...(ca && url.protocol === 'https:' ? { ca } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          if (response.statusCode !== 200) return reject(new HttpStatusError(response.statusCode ?? 0));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    request.on('error', reject);
  });
}

async function readServerMetadata(
  ctx: Context,
  ca: string[] | undefined,
): Promise<Record<string, unknown> | undefined> {
  const source = str(ctx.values, 'server-metadata');
  if (source === undefined) return undefined;
  return readMetadataFrom(ctx, source, ca);
}

/** A server's metadata from a file, a metadata URL, or an issuer URL (its RFC 8414, else its OpenID document). */
async function readMetadataFrom(
  ctx: Context,
  source: string,
  ca: string[] | undefined,
): Promise<Record<string, unknown>> {
  let value: unknown;
  if (/^https?:\/\//i.test(source)) {
    const given = new URL(source);
    // An issuer instead of a metadata URL: its RFC 8414 document, else its OpenID discovery document.
    const path = given.pathname === '/' ? '' : given.pathname.replace(/\/$/, '');
    const candidates = given.pathname.includes('/.well-known/')
      ? [given]
      : [
          new URL(`/.well-known/oauth-authorization-server${path}`, given),
          new URL(`${path}/.well-known/openid-configuration`, given),
        ];
    const progress = createProgress(ctx.io);
    const failures: string[] = [];
    try {
      for (const url of candidates) {
        progress.update(`fetching ${url.href}`);
        try {
          value = await getJson(url, ca);
          break;
        } catch (cause) {
          failures.push(
            cause instanceof HttpStatusError ? `${url.href}: ${cause.message}` : explainNetworkError(cause, url),
          );
        }
      }
    } finally {
      progress.done();
    }
    if (value === undefined) throw new UsageError(`cannot read the server metadata: ${failures.join('; ')}`);
  } else {
    const text = (await readInput(ctx.io, source, 'server metadata file')).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch {
      throw new UsageError(`${source} is not JSON`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError('the server metadata must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function issuerFrom(ctx: Context, metadata: Record<string, unknown> | undefined): string {
  const given = str(ctx.values, 'issuer');
  if (given !== undefined) {
    if (!URL.parse(given)) throw new UsageError(`--issuer ${given} is not a URL`);
    return given;
  }
  if (typeof metadata?.issuer === 'string') return metadata.issuer;
  return ctx.values['allow-loopback'] ? DEFAULT_LOOPBACK_CHECK_ISSUER : DEFAULT_CHECK_ISSUER;
}

function printJson(ctx: Context, value: unknown): void {
  ctx.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// check

const looksLikeUrl = (target: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(target);

async function runCheck(ctx: Context, target: string): Promise<number> {
  const clientId = str(ctx.values, 'client-id');
  const isUrl = looksLikeUrl(target);
  if (isUrl && clientId !== undefined) {
    throw new UsageError('--client-id is for checking a file; for a URL the URL itself is the client_id');
  }
  const ca = await readCa(ctx);
  const metadata = await readServerMetadata(ctx, ca);
  const issuer = issuerFrom(ctx, metadata);
  const allowLoopback = ctx.values['allow-loopback'] === true;
  const redirectUri = str(ctx.values, 'redirect-uri');
  const progress = createProgress(ctx.io);
  const options: CheckOptions = {
    issuer,
    allowLoopback,
    ...(ca ? { ca } : {}),
    ...(metadata ? { capabilities: capabilitiesFromServerMetadata(metadata) } : {}),
    ...(redirectUri !== undefined ? { redirectUri } : {}),
    onProgress: (message) => progress.update(message),
  };

  let report: CheckReport;
  try {
    if (isUrl) {
      report = await checkClientId(target, options);
    } else {
      const body = await readInput(ctx.io, target, 'file');
      report = checkDocument(body, { ...options, ...(clientId !== undefined ? { clientId } : {}) });
    }
  } catch (error) {
    // The only throws are options the server itself would refuse (e.g. --allow-loopback with a public issuer).
    if (isConfigurationError(error)) throw new UsageError(messageOf(error));
    throw error;
  } finally {
    progress.done();
  }

  if (ctx.json) printJson(ctx, report);
  // Client-supplied text is neutralised before it reaches the terminal (sanitize.ts); --json is not.
  else
    ctx.io.stdout.write(formatCheckReport(sanitizeDeep(report), ctx.style, { verbose: ctx.values.verbose === true }));
  return report.accepted ? EXIT_OK : EXIT_REJECTED;
}

// ---------------------------------------------------------------------------------------------------------------
// advise, catalog drift

async function runAdvise(ctx: Context, source: string): Promise<number> {
  const ca = await readCa(ctx);
  const metadata = await readMetadataFrom(ctx, source, ca);
  const advice = adviseClients(metadata);
  if (ctx.json) printJson(ctx, { source, advice });
  else ctx.io.stdout.write(formatAdvice(source, advice, ctx.style));
  return advice.every((client) => client.outcome === 'cimd') ? EXIT_OK : EXIT_REJECTED;
}

async function runCatalogDrift(ctx: Context): Promise<number> {
  const ca = await readCa(ctx);
  const progress = createProgress(ctx.io);
  let results: Awaited<ReturnType<typeof catalogDrift>>;
  try {
    const documents = await catalogDocuments();
    results = await catalogDrift(documents, {
      ...(ca ? { ca } : {}),
      onProgress: (message) => progress.update(message),
    });
  } finally {
    progress.done();
  }
  if (ctx.json) printJson(ctx, { drifted: results.some((result) => result.drifted), documents: results });
  else ctx.io.stdout.write(formatDrift(results, ctx.style));
  return results.some((result) => result.drifted) ? EXIT_REJECTED : EXIT_OK;
}

// ---------------------------------------------------------------------------------------------------------------
// store commands

async function runStoreCommand(ctx: Context, command: string, cid: string): Promise<number> {
  let connection: RedisConnection;
  try {
    connection = redisConnectionFrom(
      {
        redis: str(ctx.values, 'redis'),
        cluster: ctx.values.cluster === true,
        sentinels: str(ctx.values, 'sentinels'),
        sentinelName: str(ctx.values, 'sentinel-name'),
      },
      ctx.io.env,
    );
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  const fromFile = str(ctx.values, 'from-file');
  const document = fromFile !== undefined ? await readInput(ctx.io, fromFile, 'document file') : undefined;
  const ca = await readCa(ctx);
  const metadata = await readServerMetadata(ctx, ca);
  const namespace = str(ctx.values, 'namespace');
  const options: StoreOptions = {
    ...connection,
    issuer: issuerFrom(ctx, metadata),
    allowLoopback: ctx.values['allow-loopback'] === true,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(ca ? { ca } : {}),
    ...(metadata ? { serverMetadata: metadata } : {}),
  };

  const progress = createProgress(ctx.io);
  let store: Awaited<ReturnType<typeof openStore>>;
  try {
    store = await openStore(options, progress);
  } catch (error) {
    if (isConfigurationError(error)) throw new UsageError(messageOf(error));
    throw error;
  }
  const { cimd } = store;
  const { style } = ctx;
  const out = (text: string) => ctx.io.stdout.write(text);
  const now = Date.now;
  try {
    switch (command) {
      case 'inspect': {
        const inspection = await cimd.inspect(cid);
        if (ctx.json) printJson(ctx, inspectionJson(cid, inspection));
        else if (inspection) out(formatInspection(cid, sanitizeDeep(inspection), style, now()));
        else out(`${cid}: not cached\n`);
        return inspection ? EXIT_OK : EXIT_REJECTED;
      }
      case 'refresh': {
        progress.update(`fetching ${cid}`);
        try {
          const entry = await cimd.refresh(cid);
          progress.done();
          if (ctx.json) printJson(ctx, { clientId: cid, refreshed: true, entry });
          else out(formatEntry(`${style('green', 'refreshed')} ${cid}`, sanitizeDeep(entry), style, now()));
          return EXIT_OK;
        } catch (error) {
          progress.done();
          if (ctx.json) printJson(ctx, { clientId: cid, refreshed: false, error: errorJson(error) });
          else {
            out(`${style('red', 'not refreshed')} ${cid}: ${errorLine(error, style)}\n`);
            out(`the cached entry, if any, is unchanged; "cimd check ${cid}" shows every rule and its fix\n`);
          }
          return EXIT_REJECTED;
        }
      }
      case 'purge': {
        const before = await cimd.inspect(cid);
        await cimd.purge(cid);
        const wasPinned = before?.entry.pinned === true;
        if (ctx.json) printJson(ctx, { clientId: cid, purged: true, wasCached: before !== undefined, wasPinned });
        else {
          const note =
            before === undefined ? ' (it was not cached)' : wasPinned ? ' (it was pinned; the pin is gone)' : '';
          out(`${style('green', 'purged')} ${cid}${note}\n`);
        }
        return EXIT_OK;
      }
      case 'pin': {
        if (!document) progress.update(`fetching ${cid}`);
        try {
          const entry = await cimd.pin(cid, document ? { document } : {});
          progress.done();
          const source = document ? 'file' : 'fetched';
          if (ctx.json) printJson(ctx, { clientId: cid, pinned: true, source, entry });
          else {
            out(
              formatEntry(
                `${style('green', 'pinned')} ${cid} ${style('dim', `(${document ? `from ${fromFile}` : 'fetched now'})`)}`,
                sanitizeDeep(entry),
                style,
                now(),
              ),
            );
            out(`the server serves this client without fetching its document until "cimd unpin ${cid}"\n`);
          }
          return EXIT_OK;
        } catch (error) {
          progress.done();
          if (ctx.json) printJson(ctx, { clientId: cid, pinned: false, error: errorJson(error) });
          else {
            out(`${style('red', 'not pinned')} ${cid}: ${errorLine(error, style)}\n`);
            const file = fromFile ? ` ${fromFile} --client-id ${cid}` : ` ${cid}`;
            out(`"cimd check${file}" shows every rule and its fix\n`);
          }
          return EXIT_REJECTED;
        }
      }
      case 'clients': {
        const clients = await cimd.clients();
        // Names: the client's own (its cached document, as the consent page shows it), else the catalog's.
        const names = new Map<string, { name: string; from: 'document' | 'catalog' }>();
        for (const client of clients) {
          const cached = await cimd.inspect(client.clientId).catch(() => undefined);
          const own = cached?.entry.metadata.client_name;
          if (typeof own === 'string' && own !== '') names.set(client.clientId, { name: own, from: 'document' });
          else {
            const known = knownClientFor(client.clientId);
            if (known) names.set(client.clientId, { name: known.name, from: 'catalog' });
          }
        }
        if (ctx.json) printJson(ctx, clientsJson(clients, names));
        else out(formatClients(sanitizeDeep(clients), style, now(), names));
        return EXIT_OK;
      }
      case 'unpin': {
        const unpinned = await cimd.unpin(cid);
        if (ctx.json) printJson(ctx, { clientId: cid, unpinned });
        else if (unpinned)
          out(`${style('green', 'unpinned')} ${cid}: the next authorization request fetches it again\n`);
        else out(`${cid}: not pinned, nothing changed\n`);
        return unpinned ? EXIT_OK : EXIT_REJECTED;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    progress.done();
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function version(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the command line; resolves to the exit code. Never calls process.exit (the caller does). */
export async function main(argv: readonly string[], ioOverrides: Partial<Io> = {}): Promise<number> {
  const io: Io = { ...processIo(), ...ioOverrides };
  const [command, ...rest] = argv;
  const jsonRequested = rest.includes('--json');
  const style = createStyle(!jsonRequested && colourFor(io.stdout, io.env));
  const errStyle = createStyle(colourFor(io.stderr, io.env));

  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = command === 'help' ? rest[0] : undefined;
    if (command === undefined) {
      io.stderr.write(USAGE);
      return EXIT_USAGE;
    }
    io.stdout.write(topic !== undefined ? commandHelp(topic) : USAGE);
    return EXIT_OK;
  }
  if (command === '--version' || command === '-V') {
    io.stdout.write(`${await version()}\n`);
    return EXIT_OK;
  }
  const spec = parserOptions(command);
  if (!spec) {
    io.stderr.write(`cimd: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }

  try {
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...rest], options: spec, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError(messageOf(error));
    }
    const values = parsed.values as Values;
    if (values.help) {
      io.stdout.write(commandHelp(command));
      return EXIT_OK;
    }
    const ctx: Context = { io, values, json: values.json === true, style };
    if (command === 'clients') {
      if (parsed.positionals.length !== 0) {
        throw new UsageError(`takes no arguments, got ${parsed.positionals.length}`);
      }
      return await runStoreCommand(ctx, command, '');
    }
    if (command === 'catalog') {
      if (parsed.positionals.length !== 1 || parsed.positionals[0] !== 'drift') {
        throw new UsageError('the one subcommand is "cimd catalog drift"');
      }
      return await runCatalogDrift(ctx);
    }
    if (parsed.positionals.length !== 1) {
      const what = command === 'check' ? 'one URL or file' : command === 'advise' ? 'one issuer' : 'one client_id';
      throw new UsageError(`takes ${what}, got ${parsed.positionals.length}`);
    }
    const target = parsed.positionals[0]!;
    if (command === 'check') return await runCheck(ctx, target);
    if (command === 'advise') return await runAdvise(ctx, target);
    return await runStoreCommand(ctx, command, target);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`cimd ${command}: ${error.message}\nRun "cimd ${command} --help" for usage.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof StoreUnavailableError) {
      if (jsonRequested) io.stdout.write(`${JSON.stringify({ error: { message: error.message } }, null, 2)}\n`);
      io.stderr.write(`cimd ${command}: ${errStyle('red', error.message)}\n`);
      return EXIT_REJECTED;
    }
    io.stderr.write(`cimd ${command}: ${errStyle('red', messageOf(error))}\n`);
    return EXIT_REJECTED;
  }
}
