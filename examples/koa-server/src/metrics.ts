/**
 * Prometheus metrics from plugin events (`METRICS=true`): the recipe the README shows, wired into the example.
 * Every resolution is one event, so a counter by reason and tier plus a latency histogram cover the questions
 * operators ask: how often do we fetch, how often do we refuse and why, and what does a lookup cost.
 */
import type Router from '@koa/router';
import type { CimdEvent } from 'oidc-provider-cimd';
import { Counter, Histogram, Registry } from 'prom-client';

export interface CimdMetrics {
  /** Pass as (or call from) the plugin's `onEvent`. */
  onEvent(event: CimdEvent): void;
  registry: Registry;
}

export function createCimdMetrics(registry = new Registry()): CimdMetrics {
  const resolutions = new Counter({
    name: 'cimd_resolutions_total',
    help: 'Client ID Metadata Document resolutions, by reason code and cache tier.',
    labelNames: ['reason', 'tier'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'cimd_resolution_duration_seconds',
    help: 'Time to resolve a client_id, by reason code.',
    labelNames: ['reason'] as const,
    // Warm hits are microseconds, fetches tens of milliseconds, timeouts seconds.
    buckets: [0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return {
    registry,
    onEvent(event) {
      // Labels are the bounded reason/tier vocabularies only: never the client id or host, which strangers choose.
      resolutions.inc({ reason: event.reason, tier: event.tier });
      duration.observe({ reason: event.reason }, event.durationMs / 1000);
    },
  };
}

/** Adds `GET /metrics` in the Prometheus text format. */
export function addMetricsRoute(router: Router, metrics: CimdMetrics): void {
  router.get('/metrics', async (ctx) => {
    ctx.set('content-type', metrics.registry.contentType);
    ctx.body = await metrics.registry.metrics();
  });
}
