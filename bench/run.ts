/**
 * `pnpm bench`: runs every benchmark, each in a fresh Node process (so that one's heap, JIT state and sockets never
 * colour another's figures), and passes their output through: one JSON object per line on stdout,
 *   {"name","value","baseline","ratio","unit","goal","met","judged"[,"aa","spread","why"]}
 * and progress notes on stderr. Goals live in lib/goals.ts.
 *
 * Nothing passes quietly: a line a script owes (goals.ts) and did not deliver -- the script crashed, could not run
 * here, or forgot it -- is listed as `met: false` with `"why": "not measured: <reason>"`. The run exits non-zero
 * when a judged line is missed or not measured, or a script fails.
 *
 *   pnpm bench                      # all of them; then writes bench/results/last-run.jsonl and BENCHMARKS.md
 *   pnpm bench memory events        # only those whose file name contains one of the words (BENCHMARKS.md untouched)
 *
 * New attack scenarios (bench/attack-*.ts) are picked up without editing this file.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { linesOf } from './lib/goals.js';
import { notMeasuredResult, type Result } from './lib/report.js';
import { LAST_RUN, writeBenchmarksMd } from './report.js';

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
  { file: 'cold-path.ts' },
  { file: 'cold-resolve.ts' },
  { file: 'cold-scale.ts' },
  { file: 'under-attack.ts' },
  // Attack scenarios, whoever adds them: bench/attack-<name>.ts.
  ...readdirSync(fileURLToPath(new URL('.', import.meta.url)))
    .filter((file) => /^attack-.+\.ts$/.test(file))
    .sort()
    .map((file) => ({ file })),
];

export interface RunInfo {
  run: { node: string; machine: string; date: string; seconds: number; selected: string[] };
}

function runOne(benchmark: Benchmark): Promise<{ results: Result[]; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(benchmark.flags ?? []), '--import', 'tsx', `bench/${benchmark.file}`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const results: Result[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const result = JSON.parse(line) as Result;
        if (typeof result?.name === 'string') {
          results.push(result);
          return;
        }
      } catch {
        // Not a result line; passed through below.
      }
      process.stdout.write(`${line}\n`);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ results, code }));
  });
}

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}`;
}

async function main(): Promise<void> {
  const words = process.argv.slice(2);
  const selected = words.length ? BENCHMARKS.filter((b) => words.some((word) => b.file.includes(word))) : BENCHMARKS;
  if (selected.length === 0) throw new Error(`no benchmark matches ${words.join(' ')}`);
  const started = performance.now();
  const all: Result[] = [];
  const failed: string[] = [];
  for (const benchmark of selected) {
    process.stderr.write(`# ${benchmark.file}\n`);
    const { results, code } = await runOne(benchmark);
    if (code !== 0) failed.push(`${benchmark.file} (exit ${code})`);
    // A line the script owes and did not print (it died before it could say so itself) is not measured.
    const seen = new Set(results.map((result) => result.name));
    for (const name of linesOf(benchmark.file)) {
      if (!seen.has(name)) {
        results.push(notMeasuredResult(name, `${benchmark.file} exited with ${code} before reporting it`));
      }
    }
    for (const result of results) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      all.push(result);
    }
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  const missed = all.filter((result) => !result.met && result.judged !== false);
  const informational = all.filter((result) => !result.met && result.judged === false);
  const describe = (result: Result) => (result.why ? `${result.name} (${result.why})` : result.name);
  process.stderr.write(
    `# ${all.length} results in ${seconds} s on Node ${process.version}; ` +
      `goals missed: ${missed.length ? missed.map(describe).join(', ') : 'none'}` +
      `${informational.length ? `; informational lines below target: ${informational.map(describe).join(', ')}` : ''}` +
      `${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}\n`,
  );
  if (words.length === 0) {
    const info: RunInfo = {
      run: {
        node: process.version,
        machine: machine(),
        date: new Date().toISOString(),
        seconds,
        selected: selected.map((b) => b.file),
      },
    };
    mkdirSync(new URL('results/', import.meta.url), { recursive: true });
    writeFileSync(
      LAST_RUN,
      [info, ...all]
        .map((line) => JSON.stringify(line))
        .join('\n')
        .concat('\n'),
    );
    writeBenchmarksMd();
    process.stderr.write(`# wrote bench/results/last-run.jsonl and BENCHMARKS.md\n`);
  } else {
    process.stderr.write('# a partial run: BENCHMARKS.md is written from full runs only\n');
  }
  if (failed.length || missed.length) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
