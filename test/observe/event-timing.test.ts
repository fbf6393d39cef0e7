/**
 * Events are timed only while somebody listens (observe/events.ts, `Emit.start`): a clock read costs about 50 ns
 * on the VMs the benchmarks run on, a sixth of the plugin's share of a warm lookup. These tests hold the other
 * half of that bargain: every kind of listener (the `onEvent` hook, an exporter's subscription, the diagnostics
 * channel) gets the real duration of a fetch, and the registry's sightings keep the plugin's clock.
 *
 * Broken by: `start()` returning 0 while only a subscriber or only the channel listens (the duration reads 0), or
 * the emitter ignoring `startedAt` (the duration reads the time since the process started).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { type CimdEvent, type CimdOptions, createCimd, DIAGNOSTICS_CHANNEL } from 'oidc-provider-cimd';
import { cimdMetrics } from 'oidc-provider-cimd/metrics';
import { Registry } from 'prom-client';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

const ISSUER = 'http://localhost:3000';
/** How long the document host waits before it answers. */
const DELAY_MS = 60;
let docs: TestHttpsServer;
let ca: string;

beforeAll(async () => {
  ca = (await getTestCertificate()).cert;
  docs = await startHttpsServer((req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
      res.end(
        JSON.stringify({
          client_id: `${docs.url}${req.url}`,
          client_name: 'Timed',
          redirect_uris: ['https://app.example.com/cb'],
          token_endpoint_auth_method: 'none',
        }),
      );
    }, DELAY_MS);
  });
});
afterAll(() => docs.close());

function plugin(options: CimdOptions = {}) {
  const cimd = createCimd({ issuer: ISSUER, allowLoopback: true, ca, ...options });
  cimd.configure({});
  return cimd;
}

/** The origin event's duration, and a warm hit's, in ms. */
const originAndWarm = (events: CimdEvent[]) => ({
  origin: events.find((e) => e.reason === 'fetched' && e.tier === 'origin')?.durationMs,
  warm: events.find((e) => e.reason === 'cache_hit' && e.tier === 'memory')?.durationMs,
});

describe('event durations', () => {
  test('the onEvent hook gets the duration of a fetch', async () => {
    const events: CimdEvent[] = [];
    const cimd = plugin({ onEvent: (event) => events.push(event) });
    try {
      await cimd.resolve(`${docs.url}/hook.json`);
      await cimd.resolve(`${docs.url}/hook.json`);
      const { origin, warm } = originAndWarm(events);
      expect(origin).toBeGreaterThanOrEqual(DELAY_MS - 5);
      expect(origin).toBeLessThan(60_000);
      expect(warm).toBeGreaterThanOrEqual(0);
      expect(warm).toBeLessThan(DELAY_MS);
    } finally {
      await cimd.close();
    }
  });

  test('an exporter subscribed without onEvent gets the duration of a fetch (cimdMetrics histogram)', async () => {
    const cimd = plugin();
    const registry = new Registry();
    cimdMetrics(cimd, { registry });
    try {
      await cimd.resolve(`${docs.url}/metrics.json`);
      const histogram = (await registry.getSingleMetric('cimd_fetch_duration_seconds')?.get())?.values ?? [];
      const sum = histogram.find(
        (v) => (v as { metricName?: string }).metricName === 'cimd_fetch_duration_seconds_sum',
      )?.value;
      expect(sum).toBeGreaterThanOrEqual((DELAY_MS - 5) / 1000);
      expect(sum).toBeLessThan(60);
    } finally {
      await cimd.close();
    }
  });

  test('a diagnostics channel subscriber alone gets the duration of a fetch', async () => {
    const published: CimdEvent[] = [];
    const onMessage = (message: unknown) => published.push(message as CimdEvent);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNEL, onMessage);
    const cimd = plugin();
    try {
      await cimd.resolve(`${docs.url}/channel.json`);
      const { origin } = originAndWarm(published);
      expect(origin).toBeGreaterThanOrEqual(DELAY_MS - 5);
      expect(origin).toBeLessThan(60_000);
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNEL, onMessage);
      await cimd.close();
    }
  });

  test('with nobody listening, the registry still records sightings on the plugin clock', async () => {
    let clock = Date.parse('2026-06-01T00:00:00Z');
    const cimd = plugin({ now: () => clock });
    try {
      const cid = `${docs.url}/registry.json`;
      await cimd.resolve(cid);
      clock += 5_000;
      await cimd.resolve(cid); // a warm hit: the sighting takes the resolver's clock reading
      const seen = (await cimd.clients()).find((client) => client.clientId === cid);
      expect(seen?.lastSeen).toBe(clock);
      expect(seen?.lastOutcome).toBe('cache_hit');
    } finally {
      await cimd.close();
    }
  });
});
