/**
 * ops/grafana-dashboard.json and ops/prometheus-alerts.yml against what Grafana needs and what the example
 * really serves: the dashboard's structure (the fields Grafana's dashboard schema requires of a dashboard, its
 * panels, targets and variables; panels on the 24-column grid without overlaps), and every metric name used by
 * the dashboard and the alerts scraped from the running example's /metrics.
 */
import { readFileSync } from 'node:fs';
import { METRIC_NAMES } from 'oidc-provider-cimd/metrics';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from '../example/start-example.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}
interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  fieldConfig?: { defaults: Record<string, unknown>; overrides: unknown[] };
  options?: Record<string, unknown>;
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; datasource?: unknown }[] };
  time: { from: string; to: string };
  [key: string]: unknown;
}

const dashboard = JSON.parse(read('ops/grafana-dashboard.json')) as Dashboard;
const alerts = read('ops/prometheus-alerts.yml');
// Grafana's variable syntax, not a template literal.
const DATASOURCE_VARIABLE = ['$', '{datasource}'].join('');
const PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'gauge', 'table', 'bargauge', 'heatmap']);
const isInteger = (value: unknown) => Number.isInteger(value);

/** Metric names in a PromQL expression: identifiers that a label matcher or a range follows. */
function metricNames(expr: string): string[] {
  const names = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g)].map((match) => match[1] as string);
  // label_values(metric, label) in a variable query.
  names.push(...[...expr.matchAll(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,/g)].map((m) => m[1] as string));
  return names.filter((name) => !['by', 'without', 'on', 'ignoring'].includes(name));
}

const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
const variableQueries = dashboard.templating.list
  .map((variable) => (variable.query as { query?: string } | undefined)?.query)
  .filter((query): query is string => typeof query === 'string');

describe('Grafana dashboard structure', () => {
  it('has the top-level fields of a dashboard', () => {
    expect(typeof dashboard.title).toBe('string');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36).toBe(true);
    expect(dashboard.time).toEqual({ from: expect.any(String), to: expect.any(String) });
    expect(Array.isArray(dashboard.panels) && dashboard.panels.length > 0).toBe(true);
    expect(Array.isArray(dashboard.templating.list)).toBe(true);
    // Importable anywhere: the data source is a variable, never a uid of one installation.
    const datasource = dashboard.templating.list.find((variable) => variable.type === 'datasource');
    expect(datasource).toMatchObject({ name: 'datasource', query: 'prometheus' });
  });

  it('has panels Grafana can render: unique ids, known types, on the grid, without overlaps', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(isInteger(panel.id)).toBe(true);
      expect(PANEL_TYPES.has(panel.type)).toBe(true);
      expect(panel.title.length).toBeGreaterThan(0);
      const { h, w, x, y } = panel.gridPos;
      expect([h, w, x, y].every(isInteger)).toBe(true);
      expect(w >= 1 && h >= 1 && x >= 0 && y >= 0 && x + w <= 24).toBe(true);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const cell = `${row}:${column}`;
          if (cells.has(cell))
            throw new Error(`panel "${panel.title}" overlaps another at row ${row}, column ${column}`);
          cells.add(cell);
        }
      }
      if (panel.type === 'row') continue;
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: DATASOURCE_VARIABLE });
      expect(panel.fieldConfig).toEqual({ defaults: expect.any(Object), overrides: expect.any(Array) });
      const targets = panel.targets ?? [];
      expect(targets.length).toBeGreaterThan(0);
      expect(new Set(targets.map((target) => target.refId)).size).toBe(targets.length);
      for (const target of targets) {
        expect(target.refId).toMatch(/^[A-Z]$/);
        expect(target.expr.trim().length).toBeGreaterThan(0);
        // Every expression selects at least one metric (a typo'd function call would select none).
        expect(metricNames(target.expr).length).toBeGreaterThan(0);
        // Balanced brackets: Grafana would show a parse error.
        for (const [open, close] of ['()', '{}', '[]']) {
          expect(target.expr.split(open as string).length).toBe(target.expr.split(close as string).length);
        }
      }
    }
  });

  it('shows every metric family the exporter serves', () => {
    const used = new Set(
      [...exprs, ...variableQueries].flatMap(metricNames).map((name) => name.replace(/_bucket$/, '')),
    );
    for (const name of METRIC_NAMES) expect(used).toContain(name);
  });
});

describe('dashboard and alerts against the running example', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('use only metric names the example serves at /metrics', async () => {
    const example = await startExample({ allowLoopback: true, metrics: true });
    try {
      // Some traffic, so that the families have samples too.
      const cid = host.publish('/scraped.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid), { redirect: 'manual' });
      await response.body?.cancel();
      const text = await (await fetch(new URL('/metrics', example.issuer))).text();
      const served = new Set<string>();
      for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        const [, name, type] = match as unknown as [string, string, string];
        served.add(name);
        if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) served.add(name + suffix);
        if (type === 'summary') for (const suffix of ['_sum', '_count']) served.add(name + suffix);
      }
      expect(served.size).toBeGreaterThan(METRIC_NAMES.length);

      const dashboardNames = [...new Set([...exprs, ...variableQueries].flatMap(metricNames))];
      expect(dashboardNames.filter((name) => !served.has(name))).toEqual([]);
      const alertNames = [...new Set([...alerts.matchAll(/\bcimd_[a-z_]+\b/g)].map((match) => match[0]))];
      expect(alertNames.length).toBeGreaterThanOrEqual(5);
      expect(alertNames.filter((name) => !served.has(name))).toEqual([]);
    } finally {
      await example.close();
    }
  });
});
