/**
 * The documentation is what CI type-checks and runs: `.ci/pack-consume` runs `.ci/consumer/server.ts` (the Koa
 * server of the README's quick start) against the packed tarballs, and type-checks every ```ts block of the
 * README and of docs/*.md, as extracted by `.ci/doc-snippets.mjs`, under strict and exactOptionalPropertyTypes.
 * These tests keep the README, the docs and those files in step, and the documentation navigable: every page
 * linked, every relative link alive, the README short and starting with the install.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { documentationPages, extractSnippets } from '../../.ci/doc-snippets.mjs';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const readme = read('README.md');
const docsPages = readdirSync(join(root, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .sort();

test('the Koa server of the quick start is .ci/consumer/server.ts, character for character', () => {
  const section = readme.slice(readme.indexOf('\n## Quick start\n'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(block).toBeDefined();
  expect(block).toBe(read('.ci/consumer/server.ts'));
});

test('every ts block of the README and of docs/ is extracted for the type-check, none empty', () => {
  const snippets = extractSnippets();
  for (const page of documentationPages()) {
    const fences = read(page).match(/^```ts$/gm)?.length ?? 0;
    expect({ page, extracted: snippets.filter((snippet) => snippet.page === page).length }).toEqual({
      page,
      extracted: fences,
    });
  }
  expect(documentationPages()).toEqual(['README.md', ...docsPages.map((name) => `docs/${name}`)]);
  for (const snippet of snippets)
    expect({ name: snippet.name, empty: snippet.code.trim() === '' }).toEqual({ name: snippet.name, empty: false });
  expect(new Set(snippets.map((snippet) => snippet.name)).size).toBe(snippets.length);
});

test('the README is under 300 lines and goes install, quick start, tasks, reference', () => {
  expect(readme.split('\n').length).toBeLessThan(300);
  const sections = [...readme.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
  expect(sections).toEqual(['Install', 'Quick start', 'Tasks', 'Reference']);
  const tasks = readme.slice(readme.indexOf('\n## Tasks\n'), readme.indexOf('\n## Reference\n'));
  expect([...tasks.matchAll(/^### (.+)$/gm)].map((match) => match[1])).toEqual([
    'Add it to a Koa app',
    'Add it to an Express app',
    'Use Redis and scale out',
    'Use your own consent page',
    'Restrict to known clients',
    'See who connected',
    'Operate with the command line',
    'Troubleshoot a refused client',
  ]);
});

test('the README installs with npm, names the CLI package and runs it with npx', () => {
  const cli = JSON.parse(read('packages/cli/package.json')) as { name: string; bin: Record<string, string> };
  expect(readme).toMatch(/```sh\nnpm i oidc-provider-cimd oidc-provider\n```/);
  expect(readme).toContain(`**\`${cli.name}\`**`);
  expect(readme).toMatch(new RegExp(`^npx ${cli.name} check https://`, 'm'));
  // npx picks the bin named like the package when there are several.
  expect(cli.bin[cli.name]).toBe(cli.bin.cimd);
});

test('every docs page starts with a title and is linked from docs/README.md and from the README', () => {
  const index = read('docs/README.md');
  for (const name of docsPages) {
    expect({ name, title: /^# \S/.test(read(`docs/${name}`)) }).toEqual({ name, title: true });
    if (name === 'README.md') continue;
    expect({ name, inIndex: index.includes(`](${name})`), inReadme: readme.includes(`](docs/${name})`) }).toEqual({
      name,
      inIndex: true,
      inReadme: true,
    });
  }
});

test('every relative link of the README, CONTRIBUTING.md and docs/ points at a file that exists', () => {
  for (const page of ['README.md', 'CONTRIBUTING.md', ...docsPages.map((name) => `docs/${name}`)]) {
    const text = read(page).replace(/^```[\s\S]*?^```$/gm, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target!)) continue;
      const file = normalize(join(dirname(page), target!.split('#')[0]!));
      expect({ page, target, exists: existsSync(join(root, file)) }).toEqual({ page, target, exists: true });
    }
  }
});
