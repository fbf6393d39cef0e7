/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) into self and inclusive time per function. Samples can be
 * split by time window (`label(timestamp)`), so that one profile of a server loaded in alternating rounds gives
 * each load its own figures, with machine noise shared between them.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** µs, CLOCK_MONOTONIC (the clock of `process.hrtime`). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTimes {
  /** µs spent in the function itself. */
  self: Map<string, number>;
  /** µs spent in the function or anything it called (recursion counted once). */
  total: Map<string, number>;
  /** µs of all samples. */
  sampled: number;
}

/** `name (file:line)` with the path shortened to the package or repo-relative file. */
export function frameKey(frame: ProfileNode['callFrame']): string {
  const url = frame.url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/.*\/packages\/oidc-provider-cimd\//, 'oidc-provider-cimd/')
    .replace(/.*\/work\/main\//, '');
  return `${frame.functionName || '(anonymous)'} (${url}:${frame.lineNumber + 1})`;
}

const empty = (): FunctionTimes => ({ self: new Map(), total: new Map(), sampled: 0 });

/**
 * Times per function, per label. `label` receives each sample's timestamp (µs, CLOCK_MONOTONIC) and names the
 * bucket it belongs to, or undefined to drop it. Default: everything in one bucket, `all`.
 */
export function readProfile(
  path: string,
  label: (timestampMicros: number) => string | undefined = () => 'all',
): Map<string, FunctionTimes> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keys = new Map<number, string>();
  const keyOf = (id: number) => {
    let key = keys.get(id);
    if (key === undefined) {
      key = frameKey(byId.get(id)!.callFrame);
      keys.set(id, key);
    }
    return key;
  };
  const out = new Map<string, FunctionTimes>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const bucket = label(at);
    if (bucket === undefined) continue;
    let times = out.get(bucket);
    if (!times) {
      times = empty();
      out.set(bucket, times);
    }
    times.sampled += dt;
    let id: number | undefined = profile.samples[i]!;
    const leafKey = keyOf(id);
    times.self.set(leafKey, (times.self.get(leafKey) ?? 0) + dt);
    const seen = new Set<string>();
    while (id !== undefined) {
      const key = keyOf(id);
      if (!seen.has(key)) {
        seen.add(key);
        times.total.set(key, (times.total.get(key) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  return out;
}
