/**
 * "Legitimate clients under attack", for `pnpm bench` and `pnpm soak` (never run directly: netns.ts runs it in a
 * network namespace of its own, so every packet stays on that namespace's loopback interface).
 *
 * A production-configured plugin (no development exception, default budgets, default DNS resolver) resolves new
 * legitimate clients, LEGIT_RATE per second, half of them on one popular document host, half on another. It does so for PHASE_SECONDS
 * without attack (the baseline), then for PHASE_SECONDS under the attack mix of issue 13, ROUNDS times:
 *   - black-holed DNS: BLACKHOLE_RATE client ids per second whose names never get a DNS answer;
 *   - junk ids on the legitimate clients' own host: JUNK_RATE per second, each a 404;
 *   - slow subdomains: SLOW_RATE per second over 40 names of one registrable domain, all resolving to a server
 *     that accepts connections and never answers.
 * Prints one JSON line: latency and success of the legitimate clients in each phase, and attack outcomes.
 */
import { createCimd } from '../../../packages/oidc-provider-cimd/src/index.js';
import { startAttackHosts } from '../attack-hosts.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const PHASE_MS = env('PHASE_SECONDS', 10) * 1000;
const ROUNDS = env('ROUNDS', 5);
const LEGIT_RATE = env('LEGIT_RATE', 4);
const JUNK_RATE = env('JUNK_RATE', 5);
const SLOW_RATE = env('SLOW_RATE', 6);
const BLACKHOLE_RATE = env('BLACKHOLE_RATE', 1);
const CAP_MS = 15_000;

const POPULAR = 'popular.client-docs.net';
const OTHER = 'apps.other-docs.net';
const SLOW_NAMES = Array.from({ length: 40 }, (_, i) => `s${i}.slow-cdn.net`);

const hosts = await startAttackHosts([POPULAR, OTHER], SLOW_NAMES);

const cimd = createCimd({ issuer: 'https://op.provider.net', ca: hosts.cert });
cimd.configure({});

interface Sample {
  ms: number;
  ok: boolean;
  code?: string;
}

async function timed(run: () => Promise<unknown>): Promise<Sample> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const entry = await Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('pending'), { code: 'still_pending' })), CAP_MS);
      }),
    ]);
    if (entry === undefined) throw Object.assign(new Error('not a CIMD id'), { code: 'not_cimd' });
    return { ms: performance.now() - started, ok: true };
  } catch (error) {
    return { ms: performance.now() - started, ok: false, code: (error as { code?: string }).code ?? 'error' };
  } finally {
    clearTimeout(timer);
  }
}

const every = (perSecond: number, action: (n: number) => void): (() => void) => {
  if (perSecond <= 0) return () => {};
  let n = 0;
  const timer = setInterval(() => action(n++), 1000 / perSecond);
  return () => clearInterval(timer);
};

const tally = (samples: Sample[]) => {
  const out: Record<string, number> = {};
  for (const s of samples) out[s.ok ? 'ok' : (s.code ?? 'error')] = (out[s.ok ? 'ok' : (s.code ?? 'error')] ?? 0) + 1;
  return out;
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

async function phase(name: string, attack: boolean) {
  const legit: Promise<Sample>[] = [];
  const junk: Promise<Sample>[] = [];
  const slowIds: Promise<Sample>[] = [];
  const blackholed: Promise<Sample>[] = [];
  // Half of the new legitimate clients live on the host the junk ids target, half on another host.
  const legitHost = (n: number) => (n % 2 ? OTHER : POPULAR);
  const stops = [
    every(LEGIT_RATE, (n) => legit.push(timed(() => cimd.resolve(`https://${legitHost(n)}/client-${name}-${n}`)))),
  ];
  if (attack) {
    stops.push(
      every(JUNK_RATE, (n) => junk.push(timed(() => cimd.resolve(`https://${POPULAR}/junk-${name}-${n}`)))),
      every(SLOW_RATE, (n) =>
        slowIds.push(timed(() => cimd.resolve(`https://${SLOW_NAMES[n % 40]}/client-${name}-${n}`))),
      ),
      every(BLACKHOLE_RATE, (n) =>
        blackholed.push(timed(() => cimd.resolve(`https://c.blackhole-${name}-${n}.net/client`))),
      ),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, PHASE_MS));
  for (const stop of stops) stop();
  return {
    legit: await Promise.all(legit),
    junk: await Promise.all(junk),
    slow: await Promise.all(slowIds),
    blackholed: await Promise.all(blackholed),
  };
}

// A few resolutions first, so that neither phase pays for compiling the code paths.
for (let i = 0; i < 10; i += 1) await timed(() => cimd.resolve(`https://${POPULAR}/client-warmup-${i}`));
// Alternating rounds, so that a drift in the machine's load (it is shared) falls on both sides alike.
const rounds = { baseline: [] as Sample[][], underAttack: [] as Sample[][] };
const attackOutcomes: Sample[][] = [[], [], []];
for (let round = 0; round < ROUNDS; round += 1) {
  const base = await phase(`b${round}`, false);
  rounds.baseline.push(base.legit);
  const hostile = await phase(`a${round}`, true);
  rounds.underAttack.push(hostile.legit);
  for (const [i, list] of [hostile.junk, hostile.slow, hostile.blackholed].entries()) attackOutcomes[i]!.push(...list);
}
const summarise = (samples: Sample[]) => {
  const latencies = samples.filter((s) => s.ok).map((s) => s.ms);
  return {
    n: samples.length,
    ok: latencies.length,
    failures: tally(samples.filter((s) => !s.ok)),
    p50: Number(percentile(latencies, 50).toFixed(1)),
    p99: Number(percentile(latencies, 99).toFixed(1)),
  };
};
console.log(
  JSON.stringify({
    rounds: ROUNDS,
    phaseSeconds: PHASE_MS / 1000,
    rates: { legit: LEGIT_RATE, junk: JUNK_RATE, slow: SLOW_RATE, blackholed: BLACKHOLE_RATE },
    baseline: summarise(rounds.baseline.flat()),
    underAttack: summarise(rounds.underAttack.flat()),
    attack: { junk: tally(attackOutcomes[0]!), slow: tally(attackOutcomes[1]!), blackholed: tally(attackOutcomes[2]!) },
    heldSlowConnectionsAtEnd: hosts.held(),
  }),
);
process.exit(0);
