/**
 * `pnpm bench`: runs every benchmark, each in a fresh Node process (so that one's heap, JIT state and sockets never
 * colour another's figures), and passes their output through: one JSON object per line on stdout,
 *   {"name","value","baseline","ratio","unit","goal","met"}
 * and progress notes on stderr. Ends with a summary on stderr; exits non-zero when a benchmark fails to run, and
 * also when a goal is missed if BENCH_STRICT=1.
 *
 *   pnpm bench                      # all of them
 *   pnpm bench memory events        # only those whose file name contains one of the words
 *
 * Method, machine and the latest figures: BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Result } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Benchmark {
  file: string;
  /** Extra Node flags. */
  flags?: string[];
}

const BENCHMARKS: Benchmark[] = [
  { file: 'auth-vs-static.ts' },
  { file: 'auth-vs-builtin.ts' },
  { file: 'failing-fetches.ts' },
  { file: 'cold-herd.ts' },
  { file: 'redis-commands.ts' },
  { file: 'redis-cluster.ts' },
  { file: 'memory.ts', flags: ['--expose-gc'] },
  { file: 'events-overhead.ts' },
  { file: 'client-find.ts' },
  { file: 'under-attack.ts' },
];

function runOne(benchmark: Benchmark): Promise<{ results: Result[]; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(benchmark.flags ?? []), '--import', 'tsx', `bench/${benchmark.file}`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const results: Result[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
      try {
        results.push(JSON.parse(line) as Result);
      } catch {
        // Not a result line; passed through as is.
      }
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ results, code }));
  });
}

async function main(): Promise<void> {
  const words = process.argv.slice(2);
  const selected = words.length ? BENCHMARKS.filter((b) => words.some((word) => b.file.includes(word))) : BENCHMARKS;
  if (selected.length === 0) throw new Error(`no benchmark matches ${words.join(' ')}`);
  const started = performance.now();
  const missed: string[] = [];
  const failed: string[] = [];
  let count = 0;
  for (const benchmark of selected) {
    process.stderr.write(`# ${benchmark.file}\n`);
    const { results, code } = await runOne(benchmark);
    if (code !== 0) failed.push(`${benchmark.file} (exit ${code})`);
    count += results.length;
    for (const result of results) if (!result.met) missed.push(result.name);
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  process.stderr.write(
    `# ${count} results in ${seconds} s on Node ${process.version}; goals missed: ${missed.length ? missed.join(', ') : 'none'}` +
      `${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}\n`,
  );
  if (failed.length || (process.env.BENCH_STRICT === '1' && missed.length)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
