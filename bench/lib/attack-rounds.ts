/**
 * The attack measure of bench/under-attack.ts, run inside a network namespace of its own (test/hostile/netns.ts:
 * every packet stays on the namespace's loopback interface, our DNS server answers every name, black-holed names
 * really get no answer). Never run directly.
 *
 * A production-configured plugin (no development exception, default budgets, default DNS resolver) resolves new
 * legitimate clients at LEGIT_RATE per second, spread over 10 document hosts on distinct registrable domains, one
 * of them the host the junk ids target. Four arms, each PHASE_SECONDS long, interleaved in CYCLES cycles (the order
 * rotates from cycle to cycle, so that no arm always follows another):
 *   - `baseline`: the legitimate clients alone;
 *   - `baseline2`: the same again (the A/A arm: how much two identical arms differ, the method's own noise);
 *   - `attack`: plus the attack mix of issue 13: black-holed DNS names (BLACKHOLE_RATE/s), junk ids on the popular
 *     legitimate host (JUNK_RATE/s, each a 404), slow subdomains (SLOW_RATE/s over 40 names of one registrable
 *     domain whose server accepts connections and never answers);
 *   - `load`: plus well-behaved new clients at the attack's total rate, on their own hosts: the same amount of work
 *     arriving, none of it hostile, so the hostility is measured apart from the load.
 * The DNS server and the document hosts (lib/attack-hosts.ts) run in a process of their own, in the same namespace:
 * an attacker's servers are not on the authorization server, and in this process their TLS handshakes (one per
 * junk document, the plugin never reuses a session or a connection) competed with the plugin for the event loop
 * and were measured as the plugin's own latency.
 * Prints one JSON line: every legitimate sample's latency per arm and round, and the attack's outcomes.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createCimd } from '../../packages/oidc-provider-cimd/src/index.js';
import { LEGIT_HOSTS, LOAD_HOSTS, SLOW_NAMES } from './attack-hosts.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const PHASE_MS = env('PHASE_SECONDS', 10) * 1000;
const CYCLES = env('CYCLES', 4);
const LEGIT_RATE = env('LEGIT_RATE', 25);
const LEGIT_PER_PHASE = Math.max(1, Math.round((LEGIT_RATE * PHASE_MS) / 1000));
const JUNK_RATE = env('JUNK_RATE', 5);
const SLOW_RATE = env('SLOW_RATE', 6);
const BLACKHOLE_RATE = env('BLACKHOLE_RATE', 1);
const LOAD_RATE = JUNK_RATE + SLOW_RATE + BLACKHOLE_RATE;
const CAP_MS = 15_000;

type Arm = 'baseline' | 'baseline2' | 'attack' | 'load';
const ARMS: Arm[] = ['baseline', 'attack', 'baseline2', 'load'];

interface Sample {
  ms: number;
  ok: boolean;
  code?: string;
}

/** Starts lib/attack-hosts.ts; resolves with its CA once it listens, and a way to ask it what it holds. */
async function startHosts() {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./attack-hosts.ts', import.meta.url))],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await lines.next();
    if (line.done) throw new Error('attack-hosts.ts exited');
    return JSON.parse(line.value) as Record<string, unknown>;
  };
  const { cert } = (await next()) as { cert: string };
  return {
    cert,
    async held(): Promise<number> {
      child.stdin!.write('held\n');
      return ((await next()) as { held: number }).held;
    },
    stop: () => child.kill('SIGKILL'),
  };
}

async function main(): Promise<void> {
  const hosts = await startHosts();
  const cert = hosts.cert;
  const cimd = createCimd({ issuer: 'https://op.provider.net', ca: cert });
  cimd.configure({});

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
    for (const s of samples) {
      const k = s.ok ? 'ok' : (s.code ?? 'error');
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  };

  const attackOutcomes = { junk: [] as Sample[], slow: [] as Sample[], blackholed: [] as Sample[] };
  const load: Sample[] = [];

  async function phase(arm: Arm, tag: string): Promise<Sample[]> {
    const legit: Promise<Sample>[] = [];
    const others: Promise<unknown>[] = [];
    const push = (list: Sample[], sample: Promise<Sample>) => others.push(sample.then((s) => list.push(s)));
    // A phase is a number of legitimate clients (rate × phase length), not a length of time: timers drift under
    // load, and an arm that fell a few short of its count (991 of 1,000) could not be judged.
    let allStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      allStarted = resolve;
    });
    const stops = [
      every(LEGIT_RATE, (n) => {
        if (n >= LEGIT_PER_PHASE) return;
        legit.push(timed(() => cimd.resolve(`https://${LEGIT_HOSTS[n % LEGIT_HOSTS.length]}/client-${tag}-${n}`)));
        if (n + 1 === LEGIT_PER_PHASE) allStarted();
      }),
    ];
    if (arm === 'attack') {
      stops.push(
        every(JUNK_RATE, (n) =>
          push(
            attackOutcomes.junk,
            timed(() => cimd.resolve(`https://${LEGIT_HOSTS[0]}/junk-${tag}-${n}`)),
          ),
        ),
        every(SLOW_RATE, (n) =>
          push(
            attackOutcomes.slow,
            timed(() => cimd.resolve(`https://${SLOW_NAMES[n % 40]}/client-${tag}-${n}`)),
          ),
        ),
        every(BLACKHOLE_RATE, (n) =>
          push(
            attackOutcomes.blackholed,
            timed(() => cimd.resolve(`https://c.blackhole-${tag}-${n}.net/client`)),
          ),
        ),
      );
    }
    if (arm === 'load') {
      stops.push(
        every(LOAD_RATE, (n) =>
          push(
            load,
            timed(() => cimd.resolve(`https://${LOAD_HOSTS[n % LOAD_HOSTS.length]}/client-load-${tag}-${n}`)),
          ),
        ),
      );
    }
    await started;
    for (const stop of stops) stop();
    const samples = await Promise.all(legit);
    // The next arm starts once this one's work is over (attack ids end at their deadlines, at most CAP_MS).
    await Promise.all(others);
    return samples;
  }

  // Compile the code paths first, so that no arm pays for it.
  for (let i = 0; i < 20; i += 1) {
    await timed(() => cimd.resolve(`https://${LEGIT_HOSTS[i % LEGIT_HOSTS.length]}/client-warmup-${i}`));
  }
  const rounds: Record<Arm, Sample[][]> = { baseline: [], baseline2: [], attack: [], load: [] };
  for (let cycle = 0; cycle < CYCLES; cycle += 1) {
    for (let k = 0; k < ARMS.length; k += 1) {
      const arm = ARMS[(k + cycle) % ARMS.length]!;
      rounds[arm].push(await phase(arm, `${arm}-${cycle}`));
    }
  }
  console.log(
    JSON.stringify({
      cycles: CYCLES,
      phaseSeconds: PHASE_MS / 1000,
      rates: { legit: LEGIT_RATE, junk: JUNK_RATE, slow: SLOW_RATE, blackholed: BLACKHOLE_RATE, load: LOAD_RATE },
      rounds: Object.fromEntries(
        Object.entries(rounds).map(([arm, list]) => [
          arm,
          list.map((samples) => ({
            latencies: samples.filter((s) => s.ok).map((s) => Number(s.ms.toFixed(2))),
            failures: tally(samples.filter((s) => !s.ok)),
          })),
        ]),
      ),
      attack: {
        junk: tally(attackOutcomes.junk),
        slow: tally(attackOutcomes.slow),
        blackholed: tally(attackOutcomes.blackholed),
      },
      load: tally(load),
      heldSlowConnectionsAtEnd: await hosts.held(),
    }),
  );
  hosts.stop();
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
