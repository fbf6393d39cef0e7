/**
 * docs/options.md is generated from the options table (CIMD_OPTIONS, plugin/options.ts): every option path, at
 * every depth, with its type, default and error code, and the startup checks. This test fails when the page is
 * out of date; `UPDATE_DOCS=1 pnpm test -- test/plugin/options-doc.test.ts` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CIMD_OPTIONS,
  type OptionRow,
  type OptionTable,
  STARTUP_CHECKS,
} from '../../packages/oidc-provider-cimd/src/plugin/options.js';

const PAGE = fileURLToPath(new URL('../../docs/options.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../../packages/oidc-provider-cimd/src/plugin/options.ts', import.meta.url));

/** Defaults that depend on other options or on the provider (the table has no single value for them). */
const DERIVED_DEFAULTS: Record<string, string> = {
  issuer: "the provider's issuer, learned on its first request",
  cache: 'a private in-memory Keyv (10,000 entries, about 32 MiB)',
  fetchLockTtlMs: '`timeoutMs` + 1000',
  now: '`Date.now`',
  'policy.admission': '`"allowlist"` when `policy.allow` or `policy.decide` is set, else `"open"`',
  'policy.allow': 'none',
  'policy.deny': 'none',
  'budget.reservedForKnown': 'min(8, floor(`budget.maxConcurrent` / 4))',
  'budget.now': '`Date.now`',
  'consent.trusted': 'none',
  grantsWithoutUser: 'none (such grants are dropped from every CIMD client)',
  allowedPorts: 'any port',
  denyList: 'none beyond the built-in rules',
  'consent.adapter': "the provider's adapter",
};

/** The doc comment of each top-level row, from the table's source: the option's documentation. */
function rowDocs(): Record<string, string> {
  const source = readFileSync(SOURCE, 'utf8');
  const table = source.slice(source.indexOf('export const CIMD_OPTIONS = {'));
  const docs: Record<string, string> = {};
  for (const match of table.matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n {2}(\w+):/g)) {
    docs[match[2]!] = match[1]!
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, '').trim())
      .join(' ')
      .replace(/\s+/g, ' ')
      .replace(/\|/g, '\\|')
      .trim();
  }
  return docs;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');
const shown = (value: unknown): string => {
  if (value === undefined) return '';
  if (typeof value === 'function') return '';
  return `\`${JSON.stringify(value)}\``;
};

function rows(table: OptionTable, prefix: string, docs: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(table) as [string, OptionRow<unknown>][]) {
    const path = `${prefix}${name}`;
    const fallback = shown(spec.default) || DERIVED_DEFAULTS[path] || (spec.nested ? 'see its members' : 'none');
    const elements = spec.inspect ? ' (each element is checked; the error names it, e.g. `[2]`)' : '';
    out.push(
      `| \`${path}\` | ${cell(spec.expected)}${elements} | ${fallback} | \`CIMD_INVALID_OPTION\` | ${docs[path] ?? ''} |`,
    );
    if (spec.nested) out.push(...rows(spec.nested, `${path}.`, docs));
  }
  return out;
}

function render(): string {
  return [
    '# Options',
    '',
    '<!-- Generated from the options table (packages/oidc-provider-cimd/src/plugin/options.ts) by',
    '     test/plugin/options-doc.test.ts; do not edit by hand: UPDATE_DOCS=1 pnpm test -- test/plugin/options-doc.test.ts, then pnpm format -->',
    '',
    'Every option of `createCimd` (and of `cimd check`, which takes the same options), at every depth. Every mistake is',
    'refused at startup with a `CimdOptionError` (a `TypeError`) whose `code` is `CIMD_INVALID_OPTION` and whose `option`',
    'is the exact path: `policy.allow[2]`, `budget.reservedForKnown`, `grantsWithoutUser[0].clients[1]`. An unknown',
    'name is refused with the closest known one suggested; `undefined` counts as absent at every depth.',
    '',
    '| Option | Type | Default | Error code | Description |',
    '| --- | --- | --- | --- | --- |',
    ...rows(CIMD_OPTIONS as unknown as OptionTable, '', rowDocs()),
    '',
    '## Startup checks',
    '',
    'Checks that relate options to each other run after the type checks, on the options with defaults applied. Each',
    'failure is a `CimdOptionError` with code `CIMD_INVALID_OPTION` and the option path below.',
    '',
    '| Option | Requires |',
    '| --- | --- |',
    ...STARTUP_CHECKS.map((check) => `| \`${check.option}\` | ${cell(check.requires)} |`),
    '',
    '## Other configuration errors',
    '',
    '| Code | When |',
    '| --- | --- |',
    '| `CIMD_INVALID_CONFIGURATION` | the provider configuration handed to `configure()` cannot be used (built-in `clientIdMetadataDocument` enabled too, `clientAuthMethods` without `none`, an own `fetch` with `guardProviderFetch`) |',
    '| `CIMD_ALREADY_CONFIGURED` | `configure()` called a second time on the same plugin object |',
    '',
  ].join('\n');
}

/** The page as biome formats it (table cells padded) compares equal to the generated one. */
const normalised = (markdown: string) =>
  markdown
    .split('\n')
    .map((line) => (line.startsWith('|') ? line.replace(/ *\| */g, '|').replace(/-{3,}/g, '---') : line))
    .join('\n');

test('docs/options.md is generated from the options table and up to date', () => {
  const expected = render();
  if (process.env.UPDATE_DOCS === '1') writeFileSync(PAGE, expected);
  expect(normalised(readFileSync(PAGE, 'utf8'))).toBe(normalised(expected));
});

test('every option path is in the page', () => {
  const page = readFileSync(PAGE, 'utf8');
  const paths = (table: OptionTable, prefix: string): string[] =>
    Object.entries(table).flatMap(([name, spec]) => [
      `${prefix}${name}`,
      ...(spec.nested ? paths(spec.nested, `${prefix}${name}.`) : []),
    ]);
  const listed = new Set([...page.matchAll(/^\| `([^`]+)` +\|/gm)].map((match) => match[1]));
  for (const path of paths(CIMD_OPTIONS as unknown as OptionTable, ''))
    expect(listed.has(path) ? path : undefined).toBe(path);
});
