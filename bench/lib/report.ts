/**
 * The one output format of `pnpm bench`: one JSON object per line on stdout,
 *   {"name","value","baseline","ratio","unit","goal","met"}
 * Anything else a benchmark wants to say goes to stderr.
 */

export interface Result {
  name: string;
  value: number;
  /** The figure `value` is compared with, measured in the same run; null when the goal is absolute. */
  baseline: number | null;
  /** value / baseline, or null. */
  ratio: number | null;
  unit: string;
  /** Human-readable, e.g. `ratio >= 0.95`. */
  goal: string;
  met: boolean;
}

export const round = (value: number, digits = 3): number => Number(value.toFixed(digits));

export function report(result: Result): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** A side-by-side result with a ratio goal (`ratio >= min`). */
export function reportRatio(
  name: string,
  figures: { value: number; baseline: number; ratio: number },
  unit: string,
  min: number,
): void {
  report({
    name,
    value: round(figures.value, figures.value >= 100 ? 0 : 3),
    baseline: round(figures.baseline, figures.baseline >= 100 ? 0 : 3),
    ratio: round(figures.ratio),
    unit,
    goal: `ratio >= ${min}`,
    met: figures.ratio >= min,
  });
}

/** Progress and diagnostics: stderr, so that stdout stays one JSON line per result. */
export function note(message: string): void {
  process.stderr.write(`  [bench] ${message}\n`);
}

/** Runs a benchmark's main function; a crash is reported on stderr and fails the process. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => {
      // Sockets of clients under test may linger (keep-alive timers); a benchmark ends when its work does.
      process.exit(process.exitCode ?? 0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
