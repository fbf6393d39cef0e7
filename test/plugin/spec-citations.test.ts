/**
 * Issue 22 item 10: one map of the draft's sections (src/spec.ts). Numbers are the -03 ones (Client
 * Authentication §6; security considerations §9: SSRF §9.6, size §9.7, logos §9.8, domain trust §9.9), every
 * comment cites a section by its SPEC name, and no source file cites the draft by a bare number any more (the
 * same section had been §9.9 in one file and §8.9 in another).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIMD_DRAFT, SPEC } from '../../packages/oidc-provider-cimd/src/spec.js';

const SRC = fileURLToPath(new URL('../../packages/oidc-provider-cimd/src/', import.meta.url));
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );

describe('SPEC, the one map of draft sections', () => {
  test('the numbered sections are the -03 ones', () => {
    expect(CIMD_DRAFT).toBe('draft-ietf-oauth-client-id-metadata-document-03');
    const numbers = Object.fromEntries(
      Object.entries(SPEC)
        .map(([name, citation]) => [name, /§([\d.]+)/.exec(citation)?.[1]] as const)
        .filter(([, section]) => section !== undefined),
    );
    expect(numbers).toEqual({
      clientAuthentication: '6',
      ssrf: '9.6',
      responseSize: '9.7',
      logos: '9.8',
      domainTrust: '9.9',
    });
  });

  test('every SPEC name cited in the sources exists', () => {
    const cited = new Set<string>();
    for (const file of sources(SRC)) {
      for (const match of readFileSync(file, 'utf8').matchAll(/SPEC\.(\w+)/g)) cited.add(match[1]!);
    }
    expect(cited.size).toBeGreaterThan(5);
    expect([...cited].filter((name) => !Object.hasOwn(SPEC, name))).toEqual([]);
  });

  test('no source cites the draft by a bare section number', () => {
    const bare = /draft-ietf-oauth-client-id-metadata-document-0\d+ §|\bdraft(?:-0\d)? §\d/;
    const offenders = sources(SRC)
      .filter((file) => !file.endsWith('spec.ts'))
      .flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, index) => `${file.slice(SRC.length)}:${index + 1}: ${line.trim()}`)
          .filter((line) => bare.test(line)),
      );
    expect(offenders).toEqual([]);
  });
});
