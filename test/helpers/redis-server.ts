/**
 * A private, throw-away `redis-server` for cache tests: started on a free port on 127.0.0.1 with persistence
 * off, ready once it answers PING. `kill()` stops it hard (SIGKILL, like a crash), `pause()` / `resume()`
 * freeze and thaw it (a stalled server), `restart()` brings it back on the same port (empty), `close()` stops
 * it for good. Every server started here is also killed when the test process exits, so a failing test never
 * leaves one behind.
 *
 * `command()` speaks just enough RESP for tests and benchmarks (INFO, CONFIG, SET, GET, ...), over its own
 * short-lived connection, so it never depends on the client under test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';

export type RespValue = string | number | null | RespValue[] | Error;

export interface TestRedisServer {
  readonly port: number;
  readonly url: string;
  /** Whether the server process is running. */
  readonly running: boolean;
  /** One command on a fresh connection; rejects when the server is unreachable. */
  command(...args: (string | number)[]): Promise<RespValue>;
  /**
   * Calls per command name since the last `resetStats()` (from `INFO commandstats`), leaving out the helper's
   * own INFO and CONFIG RESETSTAT.
   */
  commandStats(): Promise<Map<string, number>>;
  /** Total calls since the last `resetStats()`, as counted by `commandStats()`. */
  totalCommands(): Promise<number>;
  resetStats(): Promise<void>;
  /** Hard stop (SIGKILL), like a crash; resolves once the process is gone and the port refuses connections. */
  kill(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered — a stalled Redis. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Starts a fresh, empty server on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

const OWN_COMMANDS = new Set(['info', 'config|resetstat']);
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function encode(args: (string | number)[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const s = String(arg);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parses one RESP2 reply from `buf` at `pos`; undefined when incomplete. */
function parse(buf: Buffer, pos: number): [RespValue, number] | undefined {
  const eol = buf.indexOf('\r\n', pos);
  if (eol === -1) return undefined;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  if (type === '+') return [line, next];
  if (type === '-') return [new Error(line), next];
  if (type === ':') return [Number(line), next];
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return [null, next];
    if (buf.length < next + length + 2) return undefined;
    return [buf.toString('utf8', next, next + length), next + length + 2];
  }
  if (type === '*') {
    const count = Number(line);
    if (count < 0) return [null, next];
    const items: RespValue[] = [];
    let at = next;
    for (let i = 0; i < count; i++) {
      const item = parse(buf, at);
      if (!item) return undefined;
      items.push(item[0]);
      at = item[1];
    }
    return [items, at];
  }
  throw new Error(`unexpected RESP type ${type}`);
}

export function redisCommand(port: number, args: (string | number)[], timeoutMs = 2000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const done = (error: Error | undefined, value?: RespValue) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    socket.setTimeout(timeoutMs, () => done(new Error('redis command timed out')));
    socket.on('error', (error) => done(error));
    socket.on('connect', () => socket.write(encode(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const reply = parse(buf, 0);
      if (reply) done(undefined, reply[0]);
    });
  });
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`redis-server: timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startRedisServer(): Promise<TestRedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();

  const ping = async () => {
    try {
      return (await redisCommand(port, ['PING'], 500)) === 'PONG';
    } catch {
      return false;
    }
  };

  const start = async () => {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    child = proc;
    live.add(proc);
    exited = once(proc, 'exit').catch(() => {});
    proc.on('exit', () => live.delete(proc));
    const spawnError = once(proc, 'error').then(([error]) => {
      throw error;
    });
    spawnError.catch(() => {});
    await Promise.race([waitUntil(ping, 10_000, `it answers PING on port ${port}`), spawnError]);
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    await waitUntil(async () => !(await ping()), 5000, 'the port refuses connections');
  };

  await start();

  const server: TestRedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    command: (...args) => redisCommand(port, args),
    async commandStats() {
      const info = await redisCommand(port, ['INFO', 'commandstats']);
      const stats = new Map<string, number>();
      for (const match of String(info).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (!OWN_COMMANDS.has(match[1]!)) stats.set(match[1]!, Number(match[2]));
      }
      return stats;
    },
    async totalCommands() {
      const stats = await server.commandStats();
      let total = 0;
      for (const calls of stats.values()) total += calls;
      return total;
    },
    async resetStats() {
      await redisCommand(port, ['CONFIG', 'RESETSTAT']);
    },
    kill: stop,
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async restart() {
      await stop();
      await start();
    },
    close: stop,
  };
  return server;
}
