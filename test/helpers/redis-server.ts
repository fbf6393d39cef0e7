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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REDIS_CLI, REDIS_SERVER, requireCapabilities } from './capability.js';

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

// The helpers' own inspection commands (cluster and sentinel helpers included), never the client under test's.
const OWN_COMMANDS = new Set([
  'info',
  'config|resetstat',
  'role',
  'cluster|info',
  'cluster|slots',
  'cluster|nodes',
  'cluster|keyslot',
]);
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Ports for private servers come from a range the kernel never hands out on its own (below the ephemeral range,
 * 32768-60999 on Linux), split by Jest worker. A port taken from the ephemeral range (listen(0), then close) was
 * seen reused: between a test's `kill()` and its `restart()` on the same port, another worker's listener or
 * server took the port, the restarted redis-server could not bind, and the test went on against the other
 * worker's Redis (a count of keys off by eleven, a SIGSTOP that stalled nothing). Data ports are 10000-19999 and a
 * cluster node's bus port (data port + 10000) is 20000-29999, so the two never meet.
 */
const PORT_BASE = 10_000;
const SLICE = 1000;
const worker = Number(process.env.JEST_WORKER_ID ?? 0) % 10;
let nextOffset = Math.floor(Math.random() * SLICE);

async function bindable(port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen(port, '127.0.0.1');
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  for (let tries = 0; tries < SLICE; tries++) {
    const port = PORT_BASE + worker * SLICE + (nextOffset++ % SLICE);
    if ((await bindable(port)) && (await bindable(port + 10_000))) return port;
  }
  throw new Error(
    `redis-server: no free port in ${PORT_BASE + worker * SLICE}-${PORT_BASE + (worker + 1) * SLICE - 1}`,
  );
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

export interface RedisServerOptions {
  /** Extra `redis-server` arguments (`--cluster-enabled yes`, `--replicaof host port`, ...). */
  args?: string[];
  /** Run `redis-server <configFile> --sentinel` instead of a data node (the file is written by the caller). */
  sentinelConfig?: (port: number) => string;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  requireCapabilities([REDIS_SERVER], 'a private redis-server');
  let port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();

  // Answered by this helper's own process, not by whatever else listens on the port: INFO names the pid.
  const ours = async () => {
    const pid = child?.pid;
    if (pid === undefined) return false;
    try {
      return Number(infoField(await redisCommand(port, ['INFO', 'server'], 500), 'process_id')) === pid;
    } catch {
      return false;
    }
  };
  const answers = async () => {
    try {
      return (await redisCommand(port, ['PING'], 500)) === 'PONG';
    } catch {
      return false;
    }
  };

  const spawnOnce = async () => {
    const base = options.sentinelConfig ? [options.sentinelConfig(port), '--sentinel'] : [];
    const proc = spawn(
      'redis-server',
      [
        ...base,
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
        ...(options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    child = proc;
    live.add(proc);
    exited = once(proc, 'exit').catch(() => {});
    proc.on('exit', () => live.delete(proc));
    // A redis-server that cannot bind its port exits at once; that must not be read as "ready" because some
    // other process answers on the port.
    const gone = Promise.race([once(proc, 'exit'), once(proc, 'error')]).then(([what]) => {
      throw new Error(
        what instanceof Error
          ? `redis-server could not start: ${what.message}`
          : `redis-server exited at start (code ${what}): port ${port} is taken`,
      );
    });
    gone.catch(() => {});
    await Promise.race([waitUntil(ours, 10_000, `it answers on port ${port}`), gone]);
  };

  // A fresh server may move to another port if its first one was taken in the meantime; a restart may not.
  const start = async (samePort: boolean) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await spawnOnce();
      } catch (error) {
        if (child) {
          child.kill('SIGKILL');
          await exited;
          child = undefined;
        }
        if (samePort || attempt >= 5) throw error;
        port = await freePort();
      }
    }
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    await waitUntil(async () => !(await answers()), 5000, 'the port refuses connections');
  };

  await start(false);

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
      await start(true);
    },
    close: stop,
  };
  return server;
}

// ---------------------------------------------------------------------------------------------------------------
// Redis Cluster and Sentinel

const scratch: string[] = [];
process.on('exit', () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function scratchDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cimd-redis-'));
  scratch.push(dir);
  return dir;
}

function infoField(info: RespValue, field: string): string | undefined {
  return new RegExp(`^${field}:(.*?)\\s*$`, 'm').exec(String(info))?.[1];
}

export interface TestRedisCluster {
  /** Every node, masters and replicas, in start order. */
  readonly nodes: TestRedisServer[];
  /** A seed URL (the first node's). */
  readonly url: string;
  /** The running node that currently serves `key` as master. */
  masterOf(key: string): Promise<TestRedisServer>;
  /** The running nodes that are masters now. */
  masters(): Promise<TestRedisServer[]>;
  /** Calls per command summed over every running master since the last `resetStats()` (see TestRedisServer). */
  totalCommands(): Promise<number>;
  resetStats(): Promise<void>;
  /** Waits until every running node reports `cluster_state:ok` with all slots served by running masters. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters with `replicasPerMaster` replicas each, made with `redis-cli --cluster
 * create`, on free ports, persistence off, files in a scratch directory. A short `cluster-node-timeout` makes a
 * replica take over a few seconds after its master is killed.
 */
export async function startRedisCluster(
  options: { masters?: number; replicasPerMaster?: number; nodeTimeoutMs?: number } = {},
): Promise<TestRedisCluster> {
  requireCapabilities([REDIS_SERVER, REDIS_CLI], 'a Redis Cluster');
  const masterCount = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const dir = scratchDir();
  const nodes: TestRedisServer[] = [];
  const close = async () => {
    await Promise.allSettled(nodes.map((node) => node.close()));
  };
  try {
    const started = await Promise.all(
      Array.from({ length: masterCount * (1 + replicas) }, (_, i) =>
        startRedisServer({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            path.join(dir, `nodes-${i}-${process.pid}-${Date.now()}.conf`),
            '--cluster-node-timeout',
            String(options.nodeTimeoutMs ?? 1000),
            // A replica always may take over, however long its master was idle (no "data too old" refusal).
            '--cluster-replica-validity-factor',
            '0',
            '--repl-ping-replica-period',
            '1',
            '--dir',
            dir,
          ],
        }),
      ),
    );
    nodes.push(...started);
    await new Promise<void>((resolve, reject) => {
      const cli = spawn(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((node) => `127.0.0.1:${node.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      cli.stderr?.on('data', (chunk) => {
        stderr += String(chunk);
      });
      cli.on('error', reject);
      cli.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create: ${stderr}`))));
    });
  } catch (error) {
    await close();
    throw error;
  }

  const byPort = (port: number) => nodes.find((node) => node.port === port);
  const cluster: TestRedisCluster = {
    nodes,
    url: nodes[0]!.url,
    async masters() {
      const out: TestRedisServer[] = [];
      for (const node of nodes) {
        if (!node.running) continue;
        const role = await node.command('ROLE').catch(() => null);
        if (Array.isArray(role) && role[0] === 'master') out.push(node);
      }
      return out;
    },
    async masterOf(key) {
      for (const node of nodes) {
        if (!node.running) continue;
        const slot = await node.command('CLUSTER', 'KEYSLOT', key).catch(() => null);
        if (typeof slot !== 'number') continue;
        const slots = await node.command('CLUSTER', 'SLOTS').catch(() => null);
        if (!Array.isArray(slots)) continue;
        for (const range of slots) {
          if (!Array.isArray(range)) continue;
          const [from, to, master] = range as [number, number, RespValue[]];
          if (slot >= from && slot <= to) {
            const found = byPort(Number(master[1]));
            if (found?.running) return found;
          }
        }
      }
      throw new Error(`no running master serves ${key}`);
    },
    async totalCommands() {
      let total = 0;
      for (const node of await cluster.masters()) total += await node.totalCommands();
      return total;
    },
    async resetStats() {
      await Promise.all(nodes.filter((node) => node.running).map((node) => node.resetStats()));
    },
    async waitHealthy(timeoutMs = 20_000) {
      const view = async () => {
        const node = nodes.find((n) => n.running);
        return node ? String(await node.command('CLUSTER', 'NODES').catch((e: Error) => e.message)) : 'no node runs';
      };
      await waitUntil(
        async () => {
          for (const node of nodes) {
            if (!node.running) continue;
            const info = await node.command('CLUSTER', 'INFO').catch(() => null);
            if (infoField(info, 'cluster_state') !== 'ok') return false;
            // Every slot served by a running master, as each running node sees it.
            const slots = await node.command('CLUSTER', 'SLOTS').catch(() => null);
            if (!Array.isArray(slots)) return false;
            let covered = 0;
            for (const range of slots as [number, number, RespValue[]][]) {
              if (!byPort(Number(range[2][1]))?.running) return false;
              covered += range[1] - range[0] + 1;
            }
            if (covered !== 16_384) return false;
          }
          return (await cluster.masters()).length >= masterCount;
        },
        timeoutMs,
        'the cluster is healthy',
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}; CLUSTER NODES:\n${await view()}`);
      });
    },
    close,
  };
  await cluster.waitHealthy();
  return cluster;
}

export interface TestRedisSentinel {
  /** The data nodes: the first starts as primary, the others as its replicas. */
  readonly nodes: TestRedisServer[];
  readonly sentinels: TestRedisServer[];
  /** `host:port,host:port` of the sentinels, as REDIS_SENTINELS takes it. */
  readonly sentinelList: string;
  readonly name: string;
  /** The data node the sentinels name as primary now. */
  primary(): Promise<TestRedisServer>;
  /** Waits until the sentinels name a running primary that has `replicas` connected replicas. */
  waitHealthy(replicas?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A primary, `replicas` replicas and `sentinels` sentinels watching them (down after 1 s, quorum: a majority). */
export async function startRedisSentinel(
  options: { replicas?: number; sentinels?: number; name?: string } = {},
): Promise<TestRedisSentinel> {
  const name = options.name ?? 'cimd-primary';
  const dir = scratchDir();
  const nodes: TestRedisServer[] = [];
  const sentinels: TestRedisServer[] = [];
  const close = async () => {
    await Promise.allSettled([...sentinels, ...nodes].map((node) => node.close()));
  };
  try {
    const primary = await startRedisServer();
    nodes.push(primary);
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      nodes.push(await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] }));
    }
    const count = options.sentinels ?? 1;
    const quorum = Math.floor(count / 2) + 1;
    for (let i = 0; i < count; i++) {
      sentinels.push(
        await startRedisServer({
          sentinelConfig: (port) => {
            const file = path.join(dir, `sentinel-${port}.conf`);
            writeFileSync(
              file,
              [
                `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${quorum}`,
                // Long enough that a primary starved of CPU for a moment (two test runs on two cores) is not
                // failed over in the middle of an unrelated test, where it can turn budget counts into local grants
                // (seen once in test/cluster/support.ts, per-domain budget). The failover test waits for events.
                `sentinel down-after-milliseconds ${name} 3000`,
                `sentinel failover-timeout ${name} 3000`,
                `sentinel parallel-syncs ${name} 1`,
                '',
              ].join('\n'),
            );
            return file;
          },
        }),
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  const sentinel: TestRedisSentinel = {
    nodes,
    sentinels,
    sentinelList: sentinels.map((node) => `127.0.0.1:${node.port}`).join(','),
    name,
    async primary() {
      for (const node of sentinels) {
        if (!node.running) continue;
        const answer = await node.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).catch(() => null);
        if (Array.isArray(answer)) {
          const found = nodes.find((n) => n.port === Number(answer[1]));
          if (found) return found;
        }
      }
      throw new Error('no sentinel names a primary');
    },
    async waitHealthy(replicas = options.replicas ?? 1, timeoutMs = 20_000) {
      await waitUntil(
        async () => {
          const primary = await sentinel.primary().catch(() => undefined);
          if (!primary?.running) return false;
          const info = await primary.command('INFO', 'replication').catch(() => null);
          if (infoField(info, 'role') !== 'master') return false;
          return Number(infoField(info, 'connected_slaves') ?? 0) >= replicas;
        },
        timeoutMs,
        'the sentinel setup is healthy',
      );
    },
    close,
  };
  await sentinel.waitHealthy();
  return sentinel;
}
