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
import {
  type CheckOptions,
  type CheckReport,
  capabilitiesFromServerMetadata,
  checkClientId,
  checkDocument,
  DEFAULT_CHECK_ISSUER,
  DEFAULT_LOOPBACK_CHECK_ISSUER,
} from 'oidc-provider-cimd/check';
import { clientsJson, formatClients } from './clients.js';
import { formatCheckReport } from './format-check.js';
import { colourFor, createProgress, createStyle, type Io, processIo } from './io.js';
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
}

const USAGE = `Usage: cimd <command> [options]

Commands
  check <url | file>     check a client metadata document as the server would
  inspect <client_id>    show the cached entry of a client in the deployment's store
  refresh <client_id>    fetch a client's document now (replaces the entry only if valid)
  purge <client_id>      remove a client from the store
  pin <client_id>        pre-register a client: store its validated document, pinned (no fetches until unpinned)
  unpin <client_id>      remove a pin
  clients                list the CIMD clients the deployment has seen (first/last seen, last outcome, users)

Run "cimd <command> --help" for the options of a command.
Exit status: 0 accepted / done, 1 rejected / failed, 2 usage error.
`;

const COMMON_HELP = `  --issuer URL           the authorization server's issuer (own-origin rule; default ${DEFAULT_CHECK_ISSUER})
  --allow-loopback       development exception: loopback client ids and addresses (needs a loopback issuer;
                         default issuer then ${DEFAULT_LOOPBACK_CHECK_ISSUER})
  --ca FILE              also trust this PEM certificate for document hosts (repeatable)
  --server-metadata SRC  the server's discovery document (file or URL): check against what it supports
                         instead of oidc-provider's defaults
  --json                 print JSON
  -h, --help             show this help`;

const STORE_HELP = `  --redis URL            the deployment's Redis, or any node of its Redis Cluster (default: $REDIS_URL)
  --cluster              the URL is a Redis Cluster node (default: asked from the server; $REDIS_CLUSTER)
  --sentinels LIST       host:port,... of the sentinels of a Sentinel-managed primary (default: $REDIS_SENTINELS)
  --sentinel-name NAME   the primary's name at the sentinels (default: $REDIS_SENTINEL_NAME)
  --namespace NAME       the key namespace the deployment uses (createRedisCache's namespace option)
${COMMON_HELP}`;

const HELP: Record<string, string> = {
  check: `Usage: cimd check <url | file> [options]

Runs the server's rules on a client metadata document: the client_id URL rules, one guarded fetch (status,
content type, size, cache headers), and the document rules. Reports each rule as pass (✓), warning (!) or
failure (✗), with the reason code the server would log and a one-line fix, and shows the client as the
provider would see it. A file is checked without any network access (document rules only).

Options
  --client-id URL        for a file: the URL the document will be served from
  --redirect-uri URI     also check whether this redirect URI would be accepted
  -v, --verbose          list every rule, including the ones that pass
${COMMON_HELP}

Exit status: 0 the server would accept it, 1 it would reject it, 2 usage error.
`,
  inspect: `Usage: cimd inspect <client_id> [options]

Shows the entry the deployment's store holds for a client: freshness, pin, validators, the normalised client.
Exit status 1 when the client is not cached.

Options
${STORE_HELP}
`,
  refresh: `Usage: cimd refresh <client_id> [options]

Fetches the client's document now and replaces the cached entry if, and only if, the new one is valid. A
pinned client stays pinned. Exit status 1 when the fetch or the document is rejected (the entry is unchanged).

Options
${STORE_HELP}
`,
  purge: `Usage: cimd purge <client_id> [options]

Removes a client from the store (a pinned one included); the next authorization request fetches it again.

Options
${STORE_HELP}
`,
  pin: `Usage: cimd pin <client_id> [--from-file doc.json] [options]

Pre-registers a client (draft §7.2): validates its document now, fetched from the client_id or read from a
file (whose client_id must be this one), and stores it pinned. The server then serves the client without
fetching its document, for example when the client's host blocks server-side requests, until "cimd unpin".

Options
  --from-file FILE       take the document from this file instead of fetching it
${STORE_HELP}
`,
  clients: `Usage: cimd clients [options]

Lists the CIMD clients the deployment's servers have seen, from the client registry in the shared store: first
and last seen, the reason code of the last resolution (fetched, cache_hit, would_deny, rejected:status, ...), and
the number of distinct users who authorized the client (counted by hash; account ids are never stored). Most
recently seen first. Servers write the registry every few seconds.

Options
${STORE_HELP}
`,
  unpin: `Usage: cimd unpin <client_id> [options]

Removes a pin (and the pinned entry): the next authorization request fetches the document again.
Exit status 1 when the client was not pinned.

Options
${STORE_HELP}
`,
};

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

const COMMON_OPTIONS: Record<string, OptionSpec> = {
  issuer: { type: 'string' },
  'allow-loopback': { type: 'boolean' },
  ca: { type: 'string', multiple: true },
  'server-metadata': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const STORE_OPTIONS: Record<string, OptionSpec> = {
  ...COMMON_OPTIONS,
  redis: { type: 'string' },
  cluster: { type: 'boolean' },
  sentinels: { type: 'string' },
  'sentinel-name': { type: 'string' },
  namespace: { type: 'string' },
};
const OPTIONS: Record<string, Record<string, OptionSpec>> = {
  check: {
    ...COMMON_OPTIONS,
    'client-id': { type: 'string' },
    'redirect-uri': { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
  },
  inspect: STORE_OPTIONS,
  refresh: STORE_OPTIONS,
  purge: STORE_OPTIONS,
  pin: { ...STORE_OPTIONS, 'from-file': { type: 'string' } },
  unpin: STORE_OPTIONS,
  clients: STORE_OPTIONS,
};

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
          if (response.statusCode !== 200) return reject(new Error(`status ${response.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

async function readServerMetadata(
  ctx: Context,
  ca: string[] | undefined,
): Promise<Record<string, unknown> | undefined> {
  const source = str(ctx.values, 'server-metadata');
  if (source === undefined) return undefined;
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
          failures.push(`${url.href}: ${messageOf(cause)}`);
        }
      }
    } finally {
      progress.done();
    }
    if (value === undefined) throw new UsageError(`cannot read the server metadata (${failures.join('; ')})`);
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
    const message = messageOf(error);
    throw new UsageError(`cimd ${command}${message.startsWith('needs ') ? ' ' : ': '}${message}`);
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
        if (ctx.json) printJson(ctx, clientsJson(clients));
        else out(formatClients(sanitizeDeep(clients), style, now()));
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
    io.stdout.write(topic !== undefined && HELP[topic] ? HELP[topic] : USAGE);
    return EXIT_OK;
  }
  if (command === '--version' || command === '-V') {
    io.stdout.write(`${await version()}\n`);
    return EXIT_OK;
  }
  const spec = OPTIONS[command];
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
      io.stdout.write(HELP[command] ?? USAGE);
      return EXIT_OK;
    }
    const ctx: Context = { io, values, json: values.json === true, style };
    if (command === 'clients') {
      if (parsed.positionals.length !== 0) {
        throw new UsageError(`cimd clients takes no arguments, got ${parsed.positionals.length}`);
      }
      return await runStoreCommand(ctx, command, '');
    }
    if (parsed.positionals.length !== 1) {
      const what = command === 'check' ? 'one URL or file' : 'one client_id';
      throw new UsageError(`cimd ${command} takes ${what}, got ${parsed.positionals.length}`);
    }
    const target = parsed.positionals[0]!;
    if (command === 'check') return await runCheck(ctx, target);
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
