/**
 * The README's code is what CI runs and type-checks: `.ci/pack-consume` copies `.ci/consumer/server.ts` (the Koa
 * server of "Add it to your deployment") and `.ci/consumer/snippets.ts` (fragments, with the context they
 * assume) into a project that installs the packed tarballs. These tests keep the README and those files equal.
 */
import { readFileSync } from 'node:fs';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const readme = read('README.md');

/** Every ```ts block of the README, in order. */
const tsBlocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);

test('the Koa server in "Add it to your deployment" is .ci/consumer/server.ts, character for character', () => {
  const section = readme.slice(readme.indexOf('## Add it to your deployment'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(block).toBeDefined();
  expect(block).toBe(read('.ci/consumer/server.ts'));
});

test('every fragment in .ci/consumer/snippets.ts is a ts block of the README', () => {
  const regions = [...read('.ci/consumer/snippets.ts').matchAll(/\/\/ README (\S+)\n([\s\S]*?)\n\s*\/\/ END/g)];
  expect(regions.map((region) => region[1])).toEqual(['operator-api', 'view-model']);
  for (const [, name, body] of regions) {
    const lines = body!.split('\n');
    const indent = Math.min(...lines.filter((line) => line.trim()).map((line) => /^ */.exec(line)![0].length));
    const dedented = `${lines.map((line) => line.slice(indent)).join('\n')}\n`;
    expect({ name, found: tsBlocks.includes(dedented) }).toEqual({ name, found: true });
  }
});
