/**
 * Runs the example server (src/server.ts) as a child process, the way `pnpm start` does, and reads its JSON
 * log lines: the startup line tells the issuer, `cimd` lines are plugin events.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface LogLine {
  event: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  issuer: string;
  startup: LogLine;
  /** Every JSON line so far (live). */
  lines: LogLine[];
  /** Waits for a line matching `test`, already seen or upcoming. */
  waitFor(test: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The last lines of stderr, for diagnosing a failure. */
  stderrTail(): string;
  /** Sends SIGTERM without waiting (for exits that cannot wait). */
  kill(): void;
  /** Stops the server and waits until it is gone. */
  stop(): Promise<void>;
}

const EXAMPLE_DIR = fileURLToPath(new URL('../../', import.meta.url));

export async function startServerProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<ServerProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  // Only what the demo sets counts; nothing inherited from the shell.
  for (const name of [
    'PORT',
    'ISSUER',
    'REDIS_URL',
    'CIMD_ENABLED',
    'DCR_ENABLED',
    'CIMD_ALLOW_LOOPBACK',
    'CIMD_EXTRA_CA',
  ]) {
    delete childEnv[name];
  }
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: EXAMPLE_DIR,
    env: { ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        // Not a log line.
      }
      newline = buffered.indexOf('\n');
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let failed: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (error) => {
      // The process could not be started at all.
      failed = error;
      resolve();
    });
  });
  void exited.then(() => {
    for (const wake of waiters) wake();
  });
  const ended = () => failed !== undefined || child.exitCode !== null || child.signalCode !== null;

  const waitFor = (test: (line: LogLine) => boolean, wait = 5000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(test);
        if (found) return done(() => resolve(found));
        if (ended()) {
          const why = failed ? failed.message : `code ${child.exitCode}`;
          return done(() => reject(new Error(`the server exited (${why}): ${stderr.trim()}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no matching server log line within ${wait} ms`))),
        wait,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  const kill = () => {
    if (!ended()) child.kill('SIGTERM');
  };
  const stop = async () => {
    kill();
    await exited;
  };

  try {
    const startup = await waitFor((line) => line.event === 'startup', timeoutMs);
    return { issuer: String(startup.issuer), startup, lines, waitFor, stderrTail: () => stderr.trim(), kill, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
