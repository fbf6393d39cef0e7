/**
 * Issue 22 item 9 (check/): `check` is split by concern, the way rules/ is, instead of one 1,048-line file:
 * the entry points, the report, the options, each stage. No file of check/ holds more than one concern's worth.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CHECK = fileURLToPath(new URL('../../packages/oidc-provider-cimd/src/check/', import.meta.url));

test('check/ is split by concern, no file over 400 lines', () => {
  const files = readdirSync(CHECK).filter((name) => name.endsWith('.ts'));
  expect(files.sort()).toEqual(
    [
      'admission.ts',
      'document-stage.ts',
      'fetch-stage.ts',
      'index.ts',
      'jwks-stage.ts',
      'options.ts',
      'report.ts',
    ].sort(),
  );
  const long = files
    .map((name) => [name, readFileSync(`${CHECK}${name}`, 'utf8').split('\n').length] as const)
    .filter(([, lines]) => lines > 400);
  expect(long).toEqual([]);
});

test('the stages never import the entry point (no cycle through index.ts)', () => {
  for (const name of readdirSync(CHECK).filter((file) => file.endsWith('.ts') && file !== 'index.ts')) {
    expect(readFileSync(`${CHECK}${name}`, 'utf8')).not.toMatch(/from '\.\/index\.js'/);
  }
});
