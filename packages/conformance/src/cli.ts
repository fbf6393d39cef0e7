/**
 * The command line: `cimd-conformance --issuer <url> [--mode dev|netns] [--json file] [--junit file] …`.
 * Exit status 0 only when every MUST case passes; 1 when one fails; 2 when the run could not start.
 */
import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_CASES } from './cases/index.js';
import { devInstructions, startDevHost } from './dev.js';
import { formatTable, toJson, toJunit } from './report.js';
import { runCases } from './runner.js';
import type { Mode, RunReport } from './types.js';
import { VERSION } from './version.js';

export const USAGE = `Usage: cimd-conformance --issuer <url> [options]

Runs the Client ID Metadata Document conformance cases against an authorization server.

  --issuer <url>         issuer of the server under test (its metadata is read from the well-known URI)
  --mode dev|netns       dev (default): documents on https://localhost:<port> signed by the kit's CA;
                         netns (Linux, root or user namespaces): --server-command runs inside a network
                         namespace with the kit's DNS server; documents on https://docs.cimd-kit.net; SSRF cases
  --server-command <sh>  netns: how to start the server (sh -c; the kit's CA path is in $CIMD_CONFORMANCE_CA)
  --server-log <file>    netns: write the server's output there
  --json <file>          write the full report as JSON
  --junit <file>         write JUnit XML (one testsuite per case family)
  --ca-dir <dir>         where the kit's CA lives (default ~/.cache/cimd-conformance)
  --doc-port <port>      document host port (default: any free port)
  --print-config         print what to configure on the server (creates the CA) and exit
  --only <prefix>        run only cases whose id starts with <prefix> (repeatable, or comma-separated)
  --expiry-wait <s>      seconds the cache-expiry cases wait between phases (default 65)
  --interval <ms>        minimum gap between requests to the server (default 120)
  --server-label <text>  name of the server under test, copied into the report
  --verbose              print every case's detail, not only failures
  --list                 list the cases and exit
  --version, --help
`;

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    io.err(`cimd-conformance: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (values.version) {
    io.out(`${VERSION}\n`);
    return 0;
  }
  if (values.list) {
    for (const c of ALL_CASES) io.out(`${c.level.padEnd(6)} ${c.id.padEnd(44)} ${c.title}  [${c.cite}]\n`);
    io.out(`${ALL_CASES.length} cases\n`);
    return 0;
  }
  const mode = (values.mode ?? 'dev') as Mode;
  if (mode !== 'dev' && mode !== 'netns') {
    io.err(`cimd-conformance: --mode must be dev or netns, got ${values.mode}\n`);
    return 2;
  }
  const caDir = values['ca-dir'] ?? join(homedir(), '.cache', 'cimd-conformance');
  const docPort = values['doc-port'] === undefined ? 0 : Number(values['doc-port']);
  if (!Number.isInteger(docPort) || docPort < 0 || docPort > 65535) {
    io.err(`cimd-conformance: --doc-port must be a port number\n`);
    return 2;
  }
  if (values['print-config']) {
    const { ensureCa } = await import('./ca.js');
    io.out(devInstructions(await ensureCa(caDir), docPort || undefined));
    return 0;
  }
  if (!values.issuer || !URL.canParse(values.issuer)) {
    io.err(`cimd-conformance: --issuer <url> is required\n\n${USAGE}`);
    return 2;
  }
  const numberOption = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${raw}`);
    return n;
  };
  let expiryWaitMs: number;
  let intervalMs: number;
  try {
    expiryWaitMs = numberOption('expiry-wait', values['expiry-wait'], 65) * 1000;
    intervalMs = numberOption('interval', values.interval, 120);
  } catch (error) {
    io.err(`cimd-conformance: ${(error as Error).message}\n`);
    return 2;
  }
  const only = (values.only ?? []).flatMap((item) => item.split(',')).filter(Boolean);

  let report: RunReport;
  if (mode === 'netns') {
    const command = values['server-command'];
    if (!command) {
      io.err('cimd-conformance: --mode netns needs --server-command "<how to start the server>"\n');
      return 2;
    }
    const { insideNamespace, runNetnsInner, runNetnsOuter } = await import('./netns/run.js');
    if (!insideNamespace()) return runNetnsOuter(argv, io);
    try {
      report = await runNetnsInner({
        issuer: values.issuer,
        serverCommand: command,
        caDir,
        io,
        only,
        expiryWaitMs,
        intervalMs,
        ...(values['server-label'] ? { serverLabel: values['server-label'] } : {}),
        ...(values['server-log'] ? { serverLog: values['server-log'] } : {}),
      });
    } catch (error) {
      io.err(`cimd-conformance: ${(error as Error).message}\n`);
      return 2;
    }
  } else {
    const dev = await startDevHost(caDir, docPort);
    io.err(devInstructions(dev.ca, dev.host.port));
    try {
      report = await runCases({
        issuer: values.issuer,
        mode,
        host: dev.host,
        origins: dev.origins,
        only,
        expiryWaitMs,
        intervalMs,
        ...(values['server-label'] ? { server: values['server-label'] } : {}),
        onResult: (r) => io.err(`${r.status === 'pass' ? '.' : r.status === 'fail' ? 'F' : '-'}`),
      });
      io.err('\n');
    } catch (error) {
      io.err(`\ncimd-conformance: ${(error as Error).message}\n`);
      return 2;
    } finally {
      await dev.close();
    }
  }
  io.out(formatTable(report, { verbose: values.verbose ?? false }));
  if (values.json) await writeFile(values.json, toJson(report));
  if (values.junit) await writeFile(values.junit, toJunit(report));
  return report.summary.mustFailed === 0 ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      issuer: { type: 'string' },
      mode: { type: 'string' },
      json: { type: 'string' },
      junit: { type: 'string' },
      'ca-dir': { type: 'string' },
      'doc-port': { type: 'string' },
      'print-config': { type: 'boolean' },
      only: { type: 'string', multiple: true },
      'expiry-wait': { type: 'string' },
      interval: { type: 'string' },
      'server-label': { type: 'string' },
      'server-command': { type: 'string' },
      'server-log': { type: 'string' },
      verbose: { type: 'boolean' },
      list: { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
