/**
 * Child-process side of {@link startServerProcess}: hosts the providers under test, so that the load generator
 * (the parent) and the server never share a CPU core's time, and the server's own CPU time per request can be
 * read exactly (`process.cpuUsage()` of this process only).
 */
import './quiet.js';
import { writeFileSync } from 'node:fs';
import type { AdapterPayload } from 'oidc-provider';
import type { CimdOptions } from 'oidc-provider-cimd';
import { type BenchProvider, type ProviderKind, requestWindows, startProvider } from './providers.js';

export interface ProviderSpec {
  name: string;
  kind: ProviderKind;
  staticId?: string;
  registeredId?: string;
  storedClients?: AdapterPayload[];
  cimd?: CimdOptions;
}

export interface ServerSpec {
  ca: string;
  providers: ProviderSpec[];
}

export type ParentMessage = { op: 'start'; spec: ServerSpec } | { op: 'sample'; id: number } | { op: 'stop' };

export type ChildMessage =
  | { op: 'ready'; issuers: Record<string, string> }
  | {
      op: 'sample';
      id: number;
      cpuMicros: number;
      activeMicros: number;
      monotonicMicros: number;
      /** Per provider name and request label (`name:label`): requests and their total server-side time, ms. */
      timings: Record<string, { count: number; totalMs: number }>;
    }
  | { op: 'error'; message: string };

const providers: BenchProvider[] = [];
const names: string[] = [];
const send = (message: ChildMessage) => process.send?.(message);

process.on('message', (message: ParentMessage) => {
  (async () => {
    if (message.op === 'start') {
      const issuers: Record<string, string> = {};
      for (const spec of message.spec.providers) {
        const started = await startProvider({
          kind: spec.kind,
          ca: message.spec.ca,
          ...(spec.staticId ? { staticId: spec.staticId } : {}),
          ...(spec.registeredId ? { registeredId: spec.registeredId } : {}),
          ...(spec.storedClients ? { storedClients: spec.storedClients } : {}),
          ...(spec.cimd ? { cimd: spec.cimd } : {}),
        });
        providers.push(started);
        names.push(spec.name);
        issuers[spec.name] = started.issuer;
      }
      send({ op: 'ready', issuers });
    } else if (message.op === 'sample') {
      // Interactions pile up in the adapter over a run; drop them so that every round sees the same heap.
      for (const provider of providers) provider.clearTransient();
      const usage = process.cpuUsage();
      // Time the event loop (the main thread) was busy, as opposed to waiting for I/O; GC helper and compiler
      // threads are not in it.
      const activeMicros = performance.eventLoopUtilization().active * 1000;
      // CLOCK_MONOTONIC in µs: the clock of V8's CPU profile timestamps, so rounds can be matched to samples.
      const monotonicMicros = Number(process.hrtime.bigint() / 1000n);
      const timings: Record<string, { count: number; totalMs: number }> = {};
      providers.forEach((provider, i) => {
        for (const [label, timing] of provider.timings) timings[`${names[i]}:${label}`] = { ...timing };
      });
      send({
        op: 'sample',
        id: message.id,
        cpuMicros: usage.user + usage.system,
        activeMicros,
        monotonicMicros,
        timings,
      });
    } else if (message.op === 'stop') {
      await Promise.allSettled(providers.map((provider) => provider.close()));
      if (process.env.BENCH_WINDOWS_FILE) writeFileSync(process.env.BENCH_WINDOWS_FILE, JSON.stringify(requestWindows));
      // A normal exit, so that --cpu-prof writes its profile.
      process.exit(0);
    }
  })().catch((error: unknown) => {
    send({ op: 'error', message: String((error as Error)?.stack ?? error) });
  });
});
