/**
 * Runs the cases against one server: reads its metadata, starts the document host, schedules the cases (expiry
 * cases side by side, slow ones one at a time, the rest a few at a time, every request paced) and collects results.
 */
import { randomBytes } from 'node:crypto';
import { ALL_CASES, type CaseDef } from './cases/index.js';
import type { SsrfLab } from './cases/ssrf.js';
import { CaseContext, type DocOrigins, type KitSettings, type Metadata, Pacer } from './context.js';
import type { DocHost } from './doc-host.js';
import type { CaseResult, Mode, RunReport } from './types.js';
import { VERSION } from './version.js';

export interface RunOptions {
  issuer: string;
  mode: Mode;
  host: DocHost;
  origins: DocOrigins;
  lab?: SsrfLab;
  /** Only cases whose id starts with one of these (default: all). */
  only?: string[];
  expiryWaitMs?: number;
  /** Minimum gap between two requests to the server under test (ms). Default 120. */
  intervalMs?: number;
  /** Requests in flight to the server under test at once (default 2). */
  concurrency?: number;
  requestTimeoutMs?: number;
  onResult?: (result: CaseResult) => void;
  /** Free text naming the server under test, copied into the report. */
  server?: string;
}

/** Reads RFC 8414 metadata (path-inserted well-known URI), falling back to OpenID discovery. */
export async function readMetadata(issuer: string, timeoutMs = 15_000): Promise<Metadata> {
  const url = new URL(issuer);
  const suffix = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${suffix}`,
    `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
  ];
  const problems: string[] = [];
  for (const candidate of candidates) {
    try {
      const response = await fetch(candidate, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) {
        problems.push(`${candidate}: HTTP ${response.status}`);
        continue;
      }
      const metadata = (await response.json()) as Metadata;
      if (typeof metadata.authorization_endpoint !== 'string') {
        problems.push(`${candidate}: no authorization_endpoint`);
        continue;
      }
      return metadata;
    } catch (error) {
      problems.push(`${candidate}: ${(error as Error).cause ?? (error as Error).message}`);
    }
  }
  throw new Error(`cimd-conformance: cannot read the server's metadata (${problems.join('; ')})`);
}

function selected(cases: readonly CaseDef[], only: string[] | undefined): CaseDef[] {
  if (!only?.length) return [...cases];
  return cases.filter((c) => only.some((prefix) => c.id === prefix || c.id.startsWith(prefix)));
}

async function runOne(def: CaseDef, settings: KitSettings): Promise<CaseResult> {
  const base = { id: def.id, family: def.family, title: def.title, level: def.level, cite: def.cite };
  if (def.modes && !def.modes.includes(settings.mode)) {
    return {
      ...base,
      status: 'not-run',
      detail: def.notRunReason ?? `not run in ${settings.mode} mode`,
      exchanges: [],
      ms: 0,
    };
  }
  const ctx = new CaseContext(settings, def.id.replace(/\./g, '-'));
  const started = Date.now();
  try {
    const verdict = await def.run(ctx);
    return {
      ...base,
      status: verdict.pass ? 'pass' : 'fail',
      detail: verdict.detail,
      fetches: ctx.fetches(),
      exchanges: ctx.exchanges,
      ms: Date.now() - started,
    };
  } catch (error) {
    return {
      ...base,
      status: 'fail',
      detail: `the case could not complete: ${(error as Error).message}`,
      fetches: ctx.fetches(),
      exchanges: ctx.exchanges,
      ms: Date.now() - started,
    };
  }
}

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(size, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  });
  await Promise.all(workers);
}

export async function runCases(options: RunOptions): Promise<RunReport> {
  const startedAt = new Date().toISOString();
  const metadata = await readMetadata(options.issuer, options.requestTimeoutMs);
  const settings: KitSettings = {
    mode: options.mode,
    metadata: { ...metadata, issuer: options.issuer },
    servedIssuer: metadata.issuer,
    host: options.host,
    origins: options.origins,
    runId: `r${randomBytes(4).toString('hex')}`,
    pacer: new Pacer(options.intervalMs ?? 120, options.concurrency ?? 2),
    expiryWaitMs: options.expiryWaitMs ?? 65_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    ...(options.lab ? { lab: options.lab } : {}),
  };
  const cases = selected(ALL_CASES, options.only);
  const results = new Map<string, CaseResult>();
  const record = (result: CaseResult) => {
    results.set(result.id, result);
    options.onResult?.(result);
  };
  const discovery = cases.filter((c) => c.family === 'discovery');
  for (const def of discovery) record(await runOne(def, settings));
  const rest = cases.filter((c) => c.family !== 'discovery');
  const expiry = rest.filter((c) => c.schedule === 'expiry');
  const slow = rest.filter((c) => c.schedule === 'slow');
  const normal = rest.filter((c) => !c.schedule || c.schedule === 'normal');
  // Requests are bounded by the pacer; cases may overlap freely (an expiry case mostly sleeps).
  const expiryRuns = Promise.all(expiry.map(async (def) => record(await runOne(def, settings))));
  await pool(normal, 4, async (def) => record(await runOne(def, settings)));
  await pool(slow, 1, async (def) => record(await runOne(def, settings)));
  await expiryRuns;
  const ordered = cases.map((c) => results.get(c.id)!).filter(Boolean);
  return summarise({
    tool: { name: 'cimd-conformance', version: VERSION },
    issuer: options.issuer,
    mode: options.mode,
    startedAt,
    finishedAt: new Date().toISOString(),
    ...(options.server ? { server: options.server } : {}),
    results: ordered,
    summary: { total: 0, pass: 0, fail: 0, notRun: 0, mustFailed: 0 },
  });
}

export function summarise(report: RunReport): RunReport {
  const r = report.results;
  report.summary = {
    total: r.length,
    pass: r.filter((x) => x.status === 'pass').length,
    fail: r.filter((x) => x.status === 'fail').length,
    notRun: r.filter((x) => x.status === 'not-run').length,
    mustFailed: r.filter((x) => x.status === 'fail' && x.level === 'MUST').length,
  };
  return report;
}
