/**
 * Issue 22 item 9: the folder tree is the architecture. Each folder of packages/oidc-provider-cimd/src is a floor,
 * and a file imports only from its own folder or from a lower floor: nothing imports upward, so there are no
 * cycles between folders. The order, lowest first (CONTRIBUTING.md, "Source layout", states the same):
 *
 *   core     errors and reason codes, the rule catalogue, the store-access guard, the cache entry, the client
 *            metadata type: what every stage shares; imports no other folder (src/spec.ts, the map of draft
 *            sections, imports nothing and sits on this floor too)
 *   rules    pure rules (URL, document, JWKS, redirect URIs, trust patterns, address policy, ...)
 *   known    the record of clients the provider already knows
 *   fetch    the guarded fetcher, name resolution, budgets
 *   cluster  Redis: clients, topologies, handles, the fetch lock, the shared budget
 *   cache    the two tiers of the document cache
 *   consent  the consent checks, view model, renderer, logo proxy
 *   observe  events, metrics, health, the client registry (reads consent's check names)
 *   resolve  the resolver and its loading step
 *   plugin   the provider integration and the composition root
 *   check    `cimd check`, which builds the same pipeline through plugin/
 *   index.ts the package's entry point
 *
 * The order was read from the code: each folder sits above every folder it imports from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../packages/oidc-provider-cimd/src/', import.meta.url));

/** Lowest first. A file may import from its own floor or from any floor below it. */
const ORDER = [
  'core',
  'rules',
  'known',
  'fetch',
  'cluster',
  'cache',
  'consent',
  'observe',
  'resolve',
  'plugin',
  'check',
  'index.ts',
] as const;

/** Files at the root of src/ that belong to a floor of the order. */
const ROOT_FILES: Record<string, (typeof ORDER)[number]> = { 'spec.ts': 'core', 'index.ts': 'index.ts' };

/** No source file is longer than this, but for the few listed below (which may not grow past their own cap). */
const MAX_LINES = 600;
const LONG_FILES: Record<string, number> = {
  // One table of every option with its defaults and startup checks (issue 22 item 1 reworks it).
  'plugin/options.ts': 700,
  // The guarded connector and fetcher: one file so that the SSRF decisions stay in one place.
  'fetch/fetcher.ts': 700,
};

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );

/** The floor of a path under src/ (a folder's name, or a root file's floor). */
function floorOf(path: string): string {
  const [head, ...rest] = relative(SRC, path).split(/[\\/]/);
  if (rest.length === 0) return ROOT_FILES[head!] ?? `unplaced root file ${head}`;
  return head!;
}

/** Every relative module specifier of a source: static imports, re-exports, side-effect imports, `import()`. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1]!);
  return found.filter((specifier) => specifier.startsWith('.'));
}

/** The imports of `files` that go upward (or to a floor not in the order), as `file -> target` lines. */
function upwardImports(files: readonly string[], read: (file: string) => string): string[] {
  const rank = (floor: string) => (ORDER as readonly string[]).indexOf(floor);
  const offenders: string[] = [];
  for (const file of files) {
    const from = floorOf(file);
    for (const specifier of importsOf(read(file))) {
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
      if (relative(SRC, target).startsWith('..')) {
        offenders.push(`${relative(SRC, file)} -> ${specifier} (outside src/)`);
        continue;
      }
      const to = floorOf(target);
      if (to === from) continue;
      if (rank(from) < 0 || rank(to) < 0 || rank(to) > rank(from)) {
        offenders.push(`${relative(SRC, file)} (${from}) -> ${relative(SRC, target)} (${to})`);
      }
    }
  }
  return offenders;
}

describe('source layout', () => {
  const files = sources(SRC);
  const read = (file: string) => readFileSync(file, 'utf8');

  test('every folder of src/ has a place in the order', () => {
    const floors = new Set(files.map(floorOf));
    expect([...floors].filter((floor) => !(ORDER as readonly string[]).includes(floor))).toEqual([]);
  });

  test('the import reader sees every form of import', () => {
    const text = [
      "import type { A } from '../core/errors.js';",
      'import {',
      '  B,',
      "} from '../rules/document.js';",
      "export { C } from './local.js';",
      "import './side-effect.js';",
      "const m = await import('../cluster/redis.js');",
      "import Keyv from 'keyv';",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      '../core/errors.js',
      '../rules/document.js',
      './local.js',
      './side-effect.js',
      '../cluster/redis.js',
    ]);
  });

  test('an upward import is caught', () => {
    const file = join(SRC, 'rules', 'document.ts');
    expect(upwardImports([file], () => "import { x } from '../resolve/resolver.js';")).toEqual([
      'rules/document.ts (rules) -> resolve/resolver.ts (resolve)',
    ]);
    expect(upwardImports([file], () => "import { x } from '../core/errors.js';")).toEqual([]);
  });

  test('nothing imports upward', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(upwardImports(files, read)).toEqual([]);
  });

  test('core/ imports no other folder', () => {
    const core = files.filter((file) => floorOf(file) === 'core');
    expect(core.length).toBeGreaterThan(3);
    const outside = core.flatMap((file) =>
      importsOf(read(file))
        .map((specifier) => resolve(dirname(file), specifier).replace(/\.js$/, '.ts'))
        .filter((target) => floorOf(target) !== 'core')
        .map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`),
    );
    expect(outside).toEqual([]);
  });

  test(`no file is longer than ${MAX_LINES} lines, but the listed ones, each under its cap`, () => {
    const over = files.flatMap((file) => {
      const name = relative(SRC, file).split(/[\\/]/).join('/');
      const lines = read(file).split('\n').length;
      const cap = LONG_FILES[name] ?? MAX_LINES;
      return lines > cap ? [`${name}: ${lines} lines (cap ${cap})`] : [];
    });
    expect(over).toEqual([]);
    // An exception that is no longer needed goes from the list.
    const shortEnough = Object.keys(LONG_FILES).filter((name) => read(join(SRC, name)).split('\n').length <= MAX_LINES);
    expect(shortEnough).toEqual([]);
  });
});
