/** Small statistics helpers shared by the benchmarks. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in [0, 100]). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Relative spread of ratios: (p75 - p25) / median. */
export function spread(ratios: readonly number[]): number {
  return (percentile(ratios, 75) - percentile(ratios, 25)) / median(ratios);
}

export interface Comparison {
  /** Median rate of A over the rounds. */
  value: number;
  /** Median rate of B over the rounds. */
  baseline: number;
  /** Median of the per-pair ratios A/B (drift in machine load cancels within a pair). */
  ratio: number;
  /** Every pair ratio. */
  ratios: number[];
}

/**
 * Alternating rounds (A B, B A, A B, ...) after `warmup` rounds of each. Each round returns one or more named
 * rates (higher is better); every metric gets its own comparison: the median of each side and the median of the
 * per-pair ratios.
 */
export async function sideBySide<K extends string>(
  rounds: number,
  a: () => Promise<Record<K, number>>,
  b: () => Promise<Record<K, number>>,
  warmup = 1,
): Promise<Record<K, Comparison>> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const as: Record<K, number>[] = [];
  const bs: Record<K, number>[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  const out = {} as Record<K, Comparison>;
  for (const key of Object.keys(as[0] ?? {}) as K[]) {
    const ratios = as.map((sample, i) => sample[key] / bs[i]![key]);
    out[key] = {
      value: median(as.map((sample) => sample[key])),
      baseline: median(bs.map((sample) => sample[key])),
      ratio: median(ratios),
      ratios,
    };
  }
  return out;
}

/** Single-metric form of {@link sideBySide}. */
export async function compareRates(
  rounds: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
  warmup = 1,
): Promise<Comparison> {
  const result = await sideBySide(
    rounds,
    async () => ({ rate: await a() }),
    async () => ({ rate: await b() }),
    warmup,
  );
  return result.rate;
}
