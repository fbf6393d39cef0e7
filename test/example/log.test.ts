/**
 * The example's log lines: JSON, one per line, each starting with an ISO 8601 `time`, a `level` and the
 * `event`; plugin events with `durationMs` rounded and a level that tells refusals from routine.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CimdEvent } from 'oidc-provider-cimd';
import { cimdLogEntry, jsonLines } from '../../examples/koa-server/src/log.js';

const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/koa-server/', import.meta.url));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('example log lines', () => {
  it('writes one JSON object per line: time, level, event first', () => {
    const lines: string[] = [];
    const log = jsonLines(
      (line) => lines.push(line),
      () => new Date('2026-12-01T10:00:00.123Z'),
    );
    log({ event: 'redis_error', level: 'warn', message: 'down' });
    log({ event: 'startup', port: 3000 });
    expect(lines).toEqual([
      '{"time":"2026-12-01T10:00:00.123Z","level":"warn","event":"redis_error","message":"down"}\n',
      '{"time":"2026-12-01T10:00:00.123Z","level":"info","event":"startup","port":3000}\n',
    ]);
  });

  const event = (reason: CimdEvent['reason'], durationMs: number): CimdEvent => ({
    reason,
    cid: 'https://app.example/client.json',
    host: 'app.example',
    durationMs,
    tier: 'origin',
  });

  it.each<[CimdEvent['reason'], 'debug' | 'info' | 'warn']>([
    ['fetched', 'info'],
    ['operator:pin', 'info'],
    ['cache_hit', 'debug'],
    ['revalidated', 'debug'],
    ['stale_if_error', 'warn'],
    ['would_deny', 'warn'],
    ['rejected:status', 'warn'],
    ['rejected:policy', 'warn'],
    ['rate_limited', 'warn'],
    ['revoked', 'warn'],
    ['client_fetch_failed', 'warn'],
    ['jwks_fetch_failed', 'warn'],
    ['jwks_stale', 'warn'],
  ])('logs a %s event at level %s, durationMs rounded', (reason, level) => {
    expect(cimdLogEntry(event(reason, 83.61729))).toEqual({
      event: 'cimd',
      level,
      reason,
      cid: 'https://app.example/client.json',
      host: 'app.example',
      durationMs: 84,
      tier: 'origin',
    });
  });

  it('pnpm start prints its startup line in that format', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: EXAMPLE_DIR,
      env: { ...process.env, PORT: '0', ISSUER: '', REDIS_URL: '', CIMD_ALLOW: '', CIMD_DENY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let buffered = '';
        let stderr = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => {
          buffered += chunk;
          const newline = buffered.indexOf('\n');
          if (newline !== -1) resolve(buffered.slice(0, newline));
        });
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
      });
      const line = JSON.parse(first) as Record<string, unknown>;
      expect(Object.keys(line).slice(0, 3)).toEqual(['time', 'level', 'event']);
      expect(line).toMatchObject({ level: 'info', event: 'startup' });
      expect(line.time).toMatch(ISO);
      expect(Math.abs(Date.parse(String(line.time)) - Date.now())).toBeLessThan(60_000);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });
});
