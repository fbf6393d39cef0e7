#!/usr/bin/env node
// Prints, one per line, every test file that depends on a version of a package whose floor .ci/lowest-peer
// installs: a file whose imports (relative ones, followed through test/ and examples/, TypeScript's `.js`
// specifiers mapped to their `.ts` sources) reach a file that
// - constructs an oidc-provider Provider (`new Provider(`: the test helpers, the example server, the test itself),
// - or uses the shared store (`@keyv/redis`, `keyv`, `createRedisCache`): the cache and cluster suites.
// The plugin's own sources are not followed (every test reaches them); the example server is, since it builds its
// Provider itself. A new suite that starts a provider or a store is covered without editing a list.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FOLLOW = [path.join(ROOT, 'test'), path.join(ROOT, 'examples')];
const USES = /\bnew Provider\(|from '@keyv\/redis'|from 'keyv'|import\('@keyv\/redis'\)|\bcreateRedisCache\(/;
const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'fixtures') continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

function source(from, specifier) {
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [base, base.replace(/\.m?js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

const memo = new Map();
function constructs(file, seen = new Set()) {
  if (memo.has(file)) return memo.get(file);
  if (seen.has(file)) return false;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  let found = USES.test(text);
  for (const [, specifier] of text.matchAll(IMPORT)) {
    if (found) break;
    const target = source(file, specifier);
    if (target && FOLLOW.some((dir) => target.startsWith(dir + path.sep))) found = constructs(target, seen);
  }
  memo.set(file, found);
  return found;
}

const suites = walk(path.join(ROOT, 'test'))
  .filter((file) => constructs(file))
  .map((file) => path.relative(ROOT, file))
  .sort();
if (suites.length === 0) {
  console.error('floor-suites: found no suite that constructs a Provider or a store; the scan is broken');
  process.exit(1);
}
console.log(suites.join('\n'));
