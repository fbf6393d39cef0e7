/**
 * The prom-client exporter (`oidc-provider-cimd/metrics`), read back through a real prom-client Registry: every
 * family fed by real traffic through the example (documents from a local HTTPS host, a full authorization with
 * consent), report mode counted once, budget refusals by scope, the store gauges.
 */
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { createCimd } from 'oidc-provider-cimd';
import { cimdMetrics, METRIC_NAMES } from 'oidc-provider-cimd/metrics';
import { Registry } from 'prom-client';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { Browser } from '../helpers/browser.js';

/** The value of one sample, `undefined` when absent. */
async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  const found = metric?.values.find(
    (value) =>
      (value as { metricName?: string }).metricName === undefined &&
      Object.entries(labels).every(([key, expected]) => String(value.labels[key]) === expected) &&
      Object.keys(value.labels).length === Object.keys(labels).length,
  );
  return found?.value;
}

/** The `_count` of a histogram series. */
async function histogramCount(registry: Registry, name: string, labels: Record<string, string>) {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find(
    (value) =>
      (value as { metricName?: string }).metricName === `${name}_count` &&
      Object.entries(labels).every(([key, expected]) => String(value.labels[key]) === expected),
  )?.value;
}

/** localhost resolves; every other name does not, even on a machine with a network (claude.ai below). */
const offlineLookup = ((host: string, options: object, callback: (...args: unknown[]) => void) => {
  if (host === 'localhost') return dns.lookup(host, options, callback as never);
  callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
}) as unknown as LookupFunction;

describe('cimdMetrics', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('counts resolutions by reason and tier, fetches once, and consent outcomes of a real authorization', async () => {
    const cid = host.publish('/metrics-app.json', loopbackClientDocument('http://127.0.0.1:9/callback', 'Metrics App'));
    const example = await startExample({ allowLoopback: true });
    const registry = new Registry();
    const metrics = cimdMetrics(example.cimd, { registry, provider: example.provider });
    try {
      const browser = new Browser();
      const approved = await browser.authorize(authorizationUrl(example.issuer, cid));
      expect(approved.redirect?.searchParams.get('code')).toBeTruthy();
      const denied = await browser.authorize(authorizationUrl(example.issuer, cid), { approve: false });
      expect(denied.redirect?.searchParams.get('error')).toBe('access_denied');

      expect(await sample(registry, 'cimd_resolutions_total', { reason: 'fetched', tier: 'origin' })).toBe(1);
      expect(await sample(registry, 'cimd_resolutions_total', { reason: 'cache_hit', tier: 'memory' })).toBeGreaterThan(
        0,
      );
      expect(await histogramCount(registry, 'cimd_fetch_duration_seconds', { outcome: 'fetched' })).toBe(1);
      // A loopback redirect asks every time: two consent prompts, one approved, one denied.
      expect(await sample(registry, 'cimd_consent_total', { outcome: 'loopback' })).toBe(2);
      expect(await sample(registry, 'cimd_consent_total', { outcome: 'approved' })).toBe(1);
      expect(await sample(registry, 'cimd_consent_total', { outcome: 'denied' })).toBe(1);
      expect(await sample(registry, 'cimd_consent_total', { outcome: 'reprompted' })).toBe(0);
      expect(await sample(registry, 'cimd_memory_cache_entries')).toBe(1);
      expect(await sample(registry, 'cimd_shared_store_up')).toBe(1);
      expect(await sample(registry, 'cimd_shared_store_circuit_open')).toBe(0);
      await example.cimd.clients(); // flushes the registry
      expect(await sample(registry, 'cimd_registry_clients')).toBe(1);

      const text = await registry.metrics();
      for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
      // Client ids and hosts are chosen by strangers: never label values.
      expect(text).not.toContain(host.origin);
      expect(text).not.toContain('localhost');
    } finally {
      metrics.close();
      await example.close();
    }
  });

  it('counts a report-mode would-be refusal once: one resolution and one would_deny per lookup', async () => {
    const cid = host.publish('/reported.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const example = await startExample({
      allowLoopback: true,
      admission: 'report',
      allow: ['https://nothing.example.com/x'],
    });
    const registry = new Registry();
    const metrics = cimdMetrics(example.cimd, { registry });
    try {
      await example.cimd.resolve(cid);
      await example.cimd.resolve(cid);
      expect(example.events.filter((event) => event.reason === 'would_deny')).toHaveLength(2);
      expect(await sample(registry, 'cimd_would_deny_total')).toBe(2);
      expect(await sample(registry, 'cimd_resolutions_total', { reason: 'fetched', tier: 'origin' })).toBe(1);
      expect(await sample(registry, 'cimd_resolutions_total', { reason: 'cache_hit', tier: 'memory' })).toBe(1);
      const metric = await registry.getSingleMetric('cimd_resolutions_total')?.get();
      const total = metric?.values.reduce((sum, value) => sum + value.value, 0);
      expect(total).toBe(2);
    } finally {
      metrics.close();
      await example.close();
    }
  });

  it('counts budget refusals by scope, and catalog clients by name and outcome', async () => {
    const example = await startExample({
      allowLoopback: true,
      cimd: { budget: { perHostBurst: 1, perHostPerSecond: 0.001 }, lookup: offlineLookup },
    });
    const registry = new Registry();
    const metrics = cimdMetrics(example.cimd, { registry });
    try {
      const first = host.publish('/budget-1.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const second = host.publish('/budget-2.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      await example.cimd.resolve(first);
      await expect(example.cimd.resolve(second)).rejects.toMatchObject({ code: 'rate_limited' });
      expect(await sample(registry, 'cimd_budget_refusals_total', { scope: 'host_rate' })).toBe(1);
      expect(await sample(registry, 'cimd_resolutions_total', { reason: 'rate_limited', tier: 'none' })).toBe(1);
      // Claude's id is in the catalog: its (failed: no such host here) lookups count under its name.
      await expect(example.cimd.resolve('https://claude.ai/oauth/mcp-oauth-client-metadata')).rejects.toBeDefined();
      expect(
        await sample(registry, 'cimd_known_client_resolutions_total', { client: 'Claude', outcome: 'refused' }),
      ).toBe(1);
    } finally {
      metrics.close();
      await example.close();
    }
  });

  it('stops counting on close, and refuses what is not a plugin object or an unknown option', async () => {
    const cimd = createCimd({ issuer: 'https://as.example' });
    const registry = new Registry();
    const metrics = cimdMetrics(cimd, { registry });
    expect(await registry.getSingleMetric('cimd_resolutions_total')).toBeDefined();
    metrics.close();
    expect(registry.getSingleMetric('cimd_resolutions_total')).toBeUndefined();
    // Registering again after close works (no duplicate-registration error).
    cimdMetrics(cimd, { registry }).close();
    expect(() => cimdMetrics({}, { registry })).toThrow(/createCimd/);
    expect(() => cimdMetrics(cimd, { registry, regitsry: registry } as never)).toThrow(/regitsry/);
    await cimd.close();
  });
});
