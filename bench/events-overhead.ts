/**
 * Benchmark 7 (issue 7) — what observability costs on a warm lookup. The same warm CIMD client is looked up
 * through `Client.find` (what oidc-provider does once per request) on two providers in this process, in
 * alternating rounds:
 *   on:  the default trust policy, an `onEvent` listener and a `diagnostics_channel` subscriber;
 *   off: the default trust policy, no listener, no subscriber (the plugin then builds no event at all).
 * Goal: on/off >= 0.97. The default policy (any public https id) compiles to a constant verdict: there is no
 * cheaper "policy off", so both sides have it.
 *
 * The diagnostics channel is process-wide: it is subscribed for the "on" rounds only. Subscribing changes the
 * channel object's prototype (and so deoptimises the code that checks it), so the "off" rounds subscribe and
 * unsubscribe once before they start too: both sides pay the same transitions. stderr gets an A/A check (two
 * "off" providers), what a policy with allow and deny lists adds, and the same comparison for the plugin's own
 * `resolve()` alone (a fraction of a microsecond, without oidc-provider's share of a lookup).
 */
import './lib/quiet.js';
import diagnosticsChannel from 'node:diagnostics_channel';
import { type CimdEvent, DIAGNOSTICS_CHANNEL } from 'oidc-provider-cimd';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServer } from './lib/doc-server.js';
import { findRate, loopRate } from './lib/lookups.js';
import { startProvider } from './lib/providers.js';
import { note, reportRatio, round, runMain } from './lib/report.js';
import { compareRates, spread } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 30_000);

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const cid = `${docs.url}/warm/client.json`;
  let delivered = 0;
  const listener = (_event: CimdEvent) => {
    delivered++;
  };
  const subscriber = (_message: unknown) => {
    delivered++;
  };
  const channel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNEL);
  const on = await startProvider({ kind: 'plugin', ca: cert, cimd: { onEvent: listener } });
  const off = await startProvider({ kind: 'plugin', ca: cert });
  const off2 = await startProvider({ kind: 'plugin', ca: cert });
  const lists = await startProvider({
    kind: 'plugin',
    ca: cert,
    cimd: {
      onEvent: listener,
      policy: {
        allow: ['*.example.org', 'app.example.net', '127.0.0.1', 'https://other.example.com/client.json'],
        deny: ['evil.example.com', '*.evil.example.net', 'https://bad.example.org/client.json'],
      },
    },
  });
  try {
    for (const p of [on, off, off2, lists]) {
      if (!(await p.provider.Client.find(cid))) throw new Error('warm-up lookup failed');
    }
    const eventsOn =
      <T>(work: () => Promise<T>) =>
      async (): Promise<T> => {
        channel.subscribe(subscriber);
        try {
          return await work();
        } finally {
          channel.unsubscribe(subscriber);
        }
      };
    const eventsOff =
      <T>(work: () => Promise<T>) =>
      async (): Promise<T> => {
        channel.subscribe(subscriber);
        channel.unsubscribe(subscriber);
        return work();
      };

    const find = await compareRates(
      ROUNDS,
      eventsOn(() => findRate(on.provider, cid, PER_ROUND)),
      eventsOff(() => findRate(off.provider, cid, PER_ROUND)),
      2,
    );
    note(
      `Client.find events on/off: ${Math.round(find.value)} vs ${Math.round(find.baseline)} lookups/cpu-s, ratio ` +
        `${round(find.ratio)} (IQR ${round(spread(find.ratios) * 100, 1)}%): an event adds ` +
        `~${Math.round(1e9 / find.value - 1e9 / find.baseline)} ns to a ${Math.round(1e9 / find.baseline)} ns lookup`,
    );
    reportRatio('warm_lookup_events_ratio', find, 'lookups/cpu-s');

    const aa = await compareRates(
      Math.max(6, ROUNDS / 3),
      eventsOff(() => findRate(off2.provider, cid, PER_ROUND)),
      eventsOff(() => findRate(off.provider, cid, PER_ROUND)),
      1,
    );
    note(`A/A check (two "off" providers): ratio ${round(aa.ratio)} (IQR ${round(spread(aa.ratios) * 100, 1)}%)`);

    const withLists = await compareRates(
      Math.max(6, ROUNDS / 3),
      eventsOn(() => findRate(lists.provider, cid, PER_ROUND)),
      eventsOff(() => findRate(off.provider, cid, PER_ROUND)),
      1,
    );
    note(`Client.find with allow+deny lists (7 patterns) and events, vs off: ratio ${round(withLists.ratio)}`);

    const plain = await compareRates(
      Math.max(6, ROUNDS / 3),
      eventsOn(() => loopRate(PER_ROUND * 4, () => on.cimd!.resolve(cid))),
      eventsOff(() => loopRate(PER_ROUND * 4, () => off.cimd!.resolve(cid))),
      1,
    );
    note(
      `resolve() alone, events on/off: ${Math.round(plain.value)} vs ${Math.round(plain.baseline)} lookups/cpu-s, ` +
        `ratio ${round(plain.ratio)}: one event costs ~${Math.round(1e9 / plain.value - 1e9 / plain.baseline)} ns`,
    );
    if (delivered === 0) throw new Error('no event was delivered');
  } finally {
    await Promise.allSettled([on, off, off2, lists].map((p) => p.close()));
    await docs.close();
  }
}

runMain(main);
