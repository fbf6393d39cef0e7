/**
 * The harness of the resolver suites: one document server per file, a fake clock per test, a fresh path per
 * test (so no test sees another's cache entries), and plugins that are closed after each test.
 */
import { configuredCimd, type DocServer, type FakeClock, fakeClock, startDocServer } from '../cache/support.js';

export interface ResolverHarness {
  readonly docs: DocServer;
  readonly clock: FakeClock;
  /** A path no other test uses, under `/<prefix>/`. */
  path(name: string): string;
  /** A configured plugin on the test's clock, closed after the test. */
  plugin(options?: Parameters<typeof configuredCimd>[0]): ReturnType<typeof configuredCimd>;
}

/** Registers the hooks in the calling `describe` and returns the harness. */
export function useResolverHarness(prefix: string): ResolverHarness {
  let docs: DocServer | undefined;
  let clock = fakeClock();
  let n = 0;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    docs = await startDocServer();
  });
  afterAll(async () => {
    await docs?.close();
  });
  beforeEach(() => {
    clock = fakeClock();
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  return {
    get docs() {
      if (!docs) throw new Error('the document server starts in beforeAll');
      return docs;
    },
    get clock() {
      return clock;
    },
    path: (name) => `/${prefix}/${++n}/${name}`,
    async plugin(options = {}) {
      const made = await configuredCimd({ now: () => clock.now(), ...options });
      closers.push(() => made.cimd.close());
      return made;
    },
  };
}
