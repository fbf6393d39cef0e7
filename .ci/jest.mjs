#!/usr/bin/env node
// Jest for CI, bounded: `node .ci/jest.mjs [jest arguments]` runs the repository's jest (as `pnpm test` does) and
// makes sure a run can never hang CI:
// - jest.config.js does not force an exit, so a server, socket or timer a test leaves open keeps Jest alive after
//   its last test. Jest then prints "Jest did not exit ... after the test run has completed": this script watches
//   for that line, stops Jest (and its workers) a few seconds later and fails, saying so. Jest's own report of the
//   run (and which file leaked, with --detectOpenHandles, see the message) stays in the log above it.
// - the whole run has a hard deadline (JEST_TIMEOUT_S, default 900 s): past it, Jest is stopped and the run fails.
// Exit status: Jest's own, or 1 for a leak or a timeout.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TIMEOUT_S = Number(process.env.JEST_TIMEOUT_S ?? 900);
const LEAK_GRACE_MS = 5000;
const LEAK_MARK = /Jest did not exit .* after the test run has completed/;

const child = spawn(
  process.execPath,
  ['--experimental-vm-modules', './node_modules/jest/bin/jest.js', ...process.argv.slice(2)],
  // A group of its own, so that stopping it stops Jest's workers too.
  { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'], detached: true },
);

let verdict;
const stop = (why) => {
  if (verdict) return;
  verdict = why;
  console.error(`\n.ci/jest: ${why}`);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
};

const deadline = setTimeout(
  () => stop(`jest ran past its ${TIMEOUT_S} s deadline (JEST_TIMEOUT_S): a hung test or a leaked handle; stopped it`),
  TIMEOUT_S * 1000,
);

let tail = '';
child.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
  if (LEAK_MARK.test(tail)) {
    tail = '';
    setTimeout(
      () =>
        stop(
          'every test finished but something a test opened (server, socket, timer, child process) kept Jest alive. ' +
            'Find it with: node --experimental-vm-modules ./node_modules/jest/bin/jest.js --detectOpenHandles <files>',
        ),
      LEAK_GRACE_MS,
    ).unref();
  }
});

child.once('close', (code, signal) => {
  clearTimeout(deadline);
  if (verdict) process.exit(1);
  process.exit(code ?? (signal ? 1 : 0));
});
