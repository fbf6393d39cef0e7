/**
 * Operations routes of the example: `GET /metrics` (with `METRICS=true`) in the Prometheus text format, from the
 * plugin's own exporter registered in one line, and `GET /health` (always), 200 while the shared store answers,
 * 503 while it does not.
 */
import type Router from '@koa/router';
import type { Provider } from 'oidc-provider';
import { type Cimd, cimdHealth } from 'oidc-provider-cimd';
import { cimdMetrics } from 'oidc-provider-cimd/metrics';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** Adds `GET /metrics`: the plugin's metric families and Node's process metrics, in a registry of the app's own. */
export function addMetricsRoute(router: Router, cimd: Cimd, provider: Provider): () => void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = cimdMetrics(cimd, { registry, provider });
  router.get('/metrics', async (ctx) => {
    ctx.set('content-type', registry.contentType);
    ctx.body = await registry.metrics();
  });
  return () => metrics.close();
}

/** Adds `GET /health`: the plugin's health report as JSON, with its status (200 or 503). */
export function addHealthRoute(router: Router, cimd: Cimd): void {
  const health = cimdHealth(cimd);
  router.get('/health', async (ctx) => {
    const report = await health.check();
    ctx.status = report.status;
    ctx.set('cache-control', 'no-store');
    ctx.body = report;
  });
}
