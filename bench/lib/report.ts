/**
 * The one output format of `pnpm bench`: one JSON object per line on stdout,
 *   {"name","value","baseline","ratio","unit","goal","met"[,"aa","spread","why"]}
 * Anything else a benchmark wants to say goes to stderr. Goals come from goals.ts, never from the script: a script
 * reports figures, `report()` judges them.
 */
import { GOALS, type GoalName, goalText, isGoalName, linesOf, meets } from './goals.js';

export interface Result {
  name: string;
  /** null when not measured. */
  value: number | null;
  /** The figure `value` is compared with, measured in the same run; null when the goal is absolute. */
  baseline: number | null;
  /** value / baseline, or null. */
  ratio: number | null;
  unit: string;
  /** Human-readable, e.g. `ratio >= 0.95` (from goals.ts). */
  goal: string;
  met: boolean;
  /** Whether a miss fails the run (goals.ts); informational lines are printed and documented only. */
  judged?: boolean;
  /** The A/A ratio printed with a judged ratio: the method's own noise. */
  aa?: number;
  /** Relative spread of the per-round ratios ((p75 - p25) / median), when measured in rounds. */
  spread?: number;
  /** Why it is not met or not measured (`not measured: <reason>`). */
  why?: string;
}

export type Figures = Pick<Result, 'value' | 'baseline' | 'ratio' | 'unit' | 'aa' | 'spread' | 'why'> & {
  /** false when the run was invalid whatever the figure (e.g. a lookup that failed): not met. */
  valid?: boolean;
};

export const round = (value: number, digits = 3): number => Number(value.toFixed(digits));

const reported = new Set<string>();

function write(result: Result): void {
  reported.add(result.name);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * Reports `name`'s figures, judged against its goal in goals.ts. The one-argument form (a whole result, goal and
 * verdict stated by the script) is for lines goals.ts does not know yet, e.g. a new bench/attack-*.ts scenario;
 * when goals.ts knows the name, its goal wins.
 */
export function report(name: GoalName, figures: Figures): void;
export function report(result: Result): void;
export function report(nameOrResult: GoalName | Result, given?: Figures): void {
  if (typeof nameOrResult !== 'string') {
    const { goal: _goal, met: _met, name: legacyName, ...legacyFigures } = nameOrResult;
    if (isGoalName(legacyName)) report(legacyName, { ...legacyFigures, valid: nameOrResult.met || undefined });
    else write({ judged: true, ...nameOrResult });
    return;
  }
  const name = nameOrResult;
  const figures = given as Figures;
  const goal = GOALS[name];
  const { valid, ...rest } = figures;
  const met = valid !== false && meets(goal, figures);
  write({ name, ...rest, goal: goalText(goal), met, judged: goal.judged });
}

/** A side-by-side result with a ratio goal. */
export function reportRatio(
  name: GoalName,
  figures: { value: number; baseline: number; ratio: number; aa?: number; spread?: number },
  unit: string,
): void {
  report(name, {
    value: round(figures.value, figures.value >= 100 ? 0 : 3),
    baseline: round(figures.baseline, figures.baseline >= 100 ? 0 : 3),
    ratio: round(figures.ratio),
    unit,
    ...(figures.aa !== undefined ? { aa: round(figures.aa) } : {}),
    ...(figures.spread !== undefined ? { spread: round(figures.spread) } : {}),
  });
}

/** A line that could not be measured: never met, with the reason. */
export function notMeasuredResult(name: string, reason: string): Result {
  const goal = isGoalName(name) ? GOALS[name] : undefined;
  return {
    name,
    value: null,
    baseline: null,
    ratio: null,
    unit: '',
    goal: goal ? goalText(goal) : '',
    met: false,
    judged: goal?.judged ?? true,
    why: `not measured: ${reason}`,
  };
}

/** Reports each of `names` (default: every line of this script not reported yet) as not measured. */
export function notMeasured(reason: string, names: readonly string[] = unreported()): void {
  for (const name of names) write(notMeasuredResult(name, reason));
}

let script: string | undefined;

/** The lines of the running script (set by runMain) not reported yet. */
function unreported(): string[] {
  return script ? linesOf(script).filter((name) => !reported.has(name)) : [];
}

/** Progress and diagnostics: stderr, so that stdout stays one JSON line per result. */
export function note(message: string): void {
  process.stderr.write(`  [bench] ${message}\n`);
}

/**
 * Runs a benchmark's main function. A crash is reported on stderr, every line the script owes (goals.ts) and did
 * not report becomes "not measured: <the error>", and the process fails. Lines a script finished without reporting
 * are reported as not measured too: a benchmark can never skip quietly.
 */
export function runMain(main: () => Promise<void>, file = process.argv[1] ?? ''): void {
  script = file.split('/').pop();
  main().then(
    () => {
      notMeasured('the script ended without reporting it');
      // Sockets of clients under test may linger (keep-alive timers); a benchmark ends when its work does.
      process.exit(process.exitCode ?? 0);
    },
    (error: unknown) => {
      console.error(error);
      notMeasured(`the script crashed: ${String((error as Error)?.message ?? error).split('\n')[0]}`);
      process.exit(1);
    },
  );
}
