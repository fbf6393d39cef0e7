/** Every case, in report order. */
import { authCases } from './auth.js';
import { cachingCases } from './caching.js';
import type { CaseDef } from './common.js';
import { discoveryCases } from './discovery.js';
import { documentCases } from './document.js';
import { fetchCases } from './fetch.js';
import { redirectCases } from './redirect.js';
import { ssrfCases } from './ssrf.js';
import { urlCases } from './url.js';

export type { CaseDef } from './common.js';

export const ALL_CASES: readonly CaseDef[] = [
  ...discoveryCases,
  ...urlCases,
  ...fetchCases,
  ...documentCases,
  ...redirectCases,
  ...cachingCases,
  ...authCases,
  ...ssrfCases,
];

const ids = new Set<string>();
for (const c of ALL_CASES) {
  if (ids.has(c.id)) throw new Error(`cimd-conformance: duplicate case id ${c.id}`);
  ids.add(c.id);
}
