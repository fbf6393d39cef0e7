/**
 * What a test needs from the machine beyond Node (network namespaces, Debian's Chromium, redis-server, redis-cli),
 * and what happens when it is missing. A guarantee whose test did not run is not a guarantee, so:
 * - under CI (`CI=true`, which .ci/run exports) the suite FAILS, with one test naming what is missing and how to
 *   install it;
 * - elsewhere (a contributor's laptop) it is skipped, with a line on stderr saying what was skipped and why, so a
 *   skip is never mistaken for a pass.
 *
 *   describeNeeding([CHROMIUM], 'consent page in Chromium', () => { ... });
 *
 * Each probe runs at most once per process, when first asked. The benchmarks use the same probes (a benchmark
 * that cannot run reports its lines as not measured).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

// Type only: this module is also imported by the benchmarks (through redis-server.ts), outside Jest, where
// importing @jest/globals throws. The suite functions are Jest's injected globals, read when a suite is declared.
type JestGlobals = typeof import('@jest/globals');

export interface Capability {
  /** Short name, as printed: `network namespaces`, `/usr/bin/chromium`, ... */
  readonly name: string;
  /** `true`, or why it is not available here (with how to get it). */
  available(): true | string;
}

function memo(name: string, probe: () => true | string): Capability {
  let answer: true | string | undefined;
  return {
    name,
    available() {
      answer ??= probe();
      return answer;
    },
  };
}

/** An executable on PATH (or an absolute path): `true`, or why not. */
function executable(command: string, install: string): () => true | string {
  return () => {
    if (command.startsWith('/')) {
      try {
        accessSync(command, constants.X_OK);
        return true;
      } catch {
        return `${command} is missing (${install})`;
      }
    }
    const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
    for (const dir of dirs) {
      try {
        accessSync(`${dir}/${command}`, constants.X_OK);
        return true;
      } catch {
        // Not in this one.
      }
    }
    return `${command} is not on PATH (${install})`;
  };
}

/**
 * User, network and mount namespaces (`unshare -rnm`), for the tests that run the production setup (public
 * issuer, real resolver, no loopback exception) against our own DNS server: test/hostile/netns.ts.
 */
export const NETWORK_NAMESPACES = memo('network namespaces (unshare -rnm)', () => {
  try {
    execFileSync('unshare', ['-rnm', 'sh', '-c', 'ip link set lo up && mount --bind /dev/null /dev/null'], {
      stdio: 'ignore',
      timeout: 10_000,
    });
    return true;
  } catch (error) {
    return (
      `unshare -rnm (user, network and mount namespaces) failed: ${(error as Error).message.split('\n')[0]} ` +
      '(needs util-linux, iproute2 and unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)'
    );
  }
});

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Debian's Chromium, driven by playwright-core (never a downloaded browser). */
export const CHROMIUM = memo(
  'Chromium',
  executable(CHROMIUM_PATH, "install Debian's chromium package: apt-get install -y chromium"),
);

/** A redis-server binary: the cache and cluster tests start their own on a free port. */
export const REDIS_SERVER = memo(
  'redis-server',
  executable('redis-server', 'install it: apt-get install -y redis-server'),
);

/** redis-cli, which makes a Redis Cluster out of started nodes (`redis-cli --cluster create`). */
export const REDIS_CLI = memo('redis-cli', executable('redis-cli', 'install it: apt-get install -y redis-tools'));

/** Whether this run is CI, where a missing capability fails instead of skipping. */
export function inCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/** Why each missing capability is missing (empty when all are there). */
export function missing(capabilities: readonly Capability[]): string[] {
  return capabilities.flatMap((capability) => {
    const answer = capability.available();
    return answer === true ? [] : [`${capability.name}: ${answer}`];
  });
}

/** The message a run without them shows (and CI fails with). */
export function missingMessage(title: string, reasons: readonly string[]): string {
  return `"${title}" cannot run here: ${reasons.join('; ')}`;
}

/**
 * `describe(title, body)` when every capability is there. Otherwise: under CI one failing test that names what is
 * missing; elsewhere the suite is skipped with a warning on stderr.
 */
export function describeNeeding(capabilities: readonly Capability[], title: string, body: () => void): void {
  const { describe, test } = globalThis as unknown as JestGlobals;
  const reasons = missing(capabilities);
  if (reasons.length === 0) {
    describe(title, body);
    return;
  }
  const message = missingMessage(title, reasons);
  if (inCi()) {
    describe(title, () => {
      test(`needs ${capabilities.map((c) => c.name).join(', ')}`, () => {
        throw new Error(`${message} (CI=true: a guarantee whose test did not run fails the run)`);
      });
    });
    return;
  }
  process.stderr.write(`SKIPPED (not passed): ${message}. Under CI=true this fails.\n`);
  describe.skip(title, body);
}

/**
 * For helpers that start something (a redis-server, a cluster): throws an error naming what is missing, rather
 * than a bare `spawn ENOENT`. A helper cannot skip the test that called it, so this fails in and out of CI.
 */
export function requireCapabilities(capabilities: readonly Capability[], what: string): void {
  const reasons = missing(capabilities);
  if (reasons.length) throw new Error(missingMessage(what, reasons));
}
