/**
 * Runs providers in a child process (see server-child.ts) and reads that process' CPU time, so that a rate can
 * be given both per wall-clock second and per server CPU-second.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ParentMessage, ServerSpec } from './server-child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url));

export interface ServerSample {
  /** CPU time (user + system, all threads) the server process has used so far, µs. */
  cpuMicros: number;
  /** Time the server's event loop has been busy so far (main thread, `performance.eventLoopUtilization()`), µs. */
  activeMicros: number;
  /** The server's CLOCK_MONOTONIC, µs. */
  monotonicMicros: number;
  /** Requests with an `x-bench-label` header so far, per `provider:label`: count and server-side time, ms. */
  timings: Record<string, { count: number; totalMs: number }>;
}

export interface ServerProcess {
  issuers: Record<string, string>;
  /** CPU time (user + system) the server process has used so far, µs. */
  cpuMicros(): Promise<number>;
  /** The same, with the server's monotonic clock (µs) at that moment. */
  sample(): Promise<ServerSample>;
  stop(): Promise<void>;
}

export async function startServerProcess(
  spec: ServerSpec,
  options: { cpuProfileDir?: string; cpuProfileIntervalMicros?: number } = {},
): Promise<ServerProcess> {
  const execArgv = ['--import', 'tsx'];
  if (options.cpuProfileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  if (options.cpuProfileIntervalMicros) execArgv.push(`--cpu-prof-interval=${options.cpuProfileIntervalMicros}`);
  // The child's stdout goes to our stderr: stdout carries only the JSON result lines.
  const child: ChildProcess = fork(CHILD, [], { cwd: ROOT, execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
  const pending = new Map<number, (value: ServerSample) => void>();
  let nextId = 0;
  let failure: Error | undefined;
  let onReady: ((issuers: Record<string, string>) => void) | undefined;
  let onFail: ((error: Error) => void) | undefined;

  child.on('message', (message: ChildMessage) => {
    if (message.op === 'ready') onReady?.(message.issuers);
    else if (message.op === 'sample') {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
    } else if (message.op === 'error') {
      failure = new Error(`server process: ${message.message}`);
      onFail?.(failure);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    if (code !== 0) onFail?.(new Error(`server process exited with ${code}`));
  });

  const issuers = await new Promise<Record<string, string>>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
    child.send({ op: 'start', spec } satisfies ParentMessage);
  });

  const sample = (): Promise<ServerSample> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      child.send({ op: 'sample', id } satisfies ParentMessage);
    });
  };

  return {
    issuers,
    sample,
    async cpuMicros() {
      return (await sample()).cpuMicros;
    },
    async stop() {
      if (child.exitCode === null) child.send({ op: 'stop' } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
