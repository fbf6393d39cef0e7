#!/usr/bin/env node
// Every ```ts block of README.md and docs/*.md, as one module per block, for the consumer project of
// .ci/pack-consume to type-check against the packed tarballs (strict, exactOptionalPropertyTypes). Fragments
// assume a little context (a `provider`, a Koa `ctx`, ...): .ci/consumer/context.d.ts declares it, once.
//   node .ci/doc-snippets.mjs <out-dir>     writes <out-dir>/<page>-<n>.ts and prints how many
// test/packaging/readme-snippets.test.ts uses `extractSnippets` to keep this list complete.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The pages whose snippets are checked: the README and every page of docs/. */
export function documentationPages() {
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** `[{ page, index, name, code }]`: every ```ts block, in page order. */
export function extractSnippets() {
  const snippets = [];
  for (const page of documentationPages()) {
    const text = readFileSync(join(root, page), 'utf8');
    let index = 0;
    for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      index += 1;
      const stem = page === 'README.md' ? 'readme' : basename(page, '.md');
      snippets.push({ page, index, name: `${stem}-${index}`, code: match[1] });
    }
  }
  return snippets;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node .ci/doc-snippets.mjs <out-dir>');
    process.exit(2);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const snippets = extractSnippets();
  for (const { page, index, name, code } of snippets) {
    // `export {}` makes each block a module of its own (its imports and top-level await stay local to it).
    writeFileSync(join(out, `${name}.ts`), `// ${page}, ts block ${index}\n${code}\nexport {};\n`);
  }
  console.log(`${snippets.length} snippets from ${documentationPages().length} pages`);
}
