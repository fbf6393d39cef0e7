/**
 * Every goal of `pnpm bench`, in one place: the scripts report figures, `report()` (report.ts) judges them against
 * this table, `run.ts` knows from it which lines each script owes (a line a script did not deliver is "not
 * measured"), and `report.ts` writes BENCHMARKS.md from it and the last run's lines. Nothing else states a goal,
 * so the documentation and the code cannot disagree.
 *
 * `judged: false` marks an informational line: printed and documented, never a failure.
 */

export type Comparison = '>=' | '<=' | '<' | '==' | 'within';

export interface Goal {
  /** The script (file in bench/) that measures it. */
  script: string;
  /** What is compared with the target: the value itself or the ratio to the baseline measured in the same run. */
  on: 'value' | 'ratio';
  op: Comparison;
  /** The target; for `within`, [low, high]. */
  target: number | readonly [number, number];
  judged: boolean;
  /** One line: what the figure is. */
  what: string;
}

export const GOALS = {
  warm_auth_vs_static_ratio: {
    script: 'auth-vs-static.ts',
    on: 'ratio',
    op: '>=',
    target: 0.95,
    judged: false,
    what: '/auth for a warm CIMD client vs a static client, same provider (requests per server-second)',
  },
  warm_auth_vs_stored_ratio: {
    script: 'auth-vs-static.ts',
    on: 'ratio',
    op: '>=',
    target: 0.98,
    judged: true,
    what: '/auth for a warm CIMD client vs the same client stored in the adapter (requests per server-second)',
  },
  warm_auth_vs_stored_aa_ratio: {
    script: 'auth-vs-static.ts',
    on: 'ratio',
    op: 'within',
    target: [0.98, 1.02],
    judged: false,
    what: "A/A: the adapter-stored client against itself under two labels (the method's own noise)",
  },
  warm_auth_vs_builtin_ratio: {
    script: 'auth-vs-builtin.ts',
    on: 'ratio',
    op: '>=',
    target: 1.15,
    judged: true,
    what: "/auth for a warm CIMD client, this plugin vs oidc-provider's built-in CIMD (requests per server-second)",
  },
  failing_document_fetches_per_auth: {
    script: 'failing-fetches.ts',
    on: 'value',
    op: '==',
    target: 1,
    judged: true,
    what: 'document fetches per /auth naming a new failing client (baseline: built-in)',
  },
  failing_document_repeat_fetches: {
    script: 'failing-fetches.ts',
    on: 'value',
    op: '==',
    target: 1,
    judged: true,
    what: 'fetches for 20 requests naming one failing client (baseline: built-in)',
  },
  cold_herd_fetches: {
    script: 'cold-herd.ts',
    on: 'value',
    op: '==',
    target: 1,
    judged: true,
    what: 'fetches for 500 concurrent /auth of one new client on 2 instances sharing Redis',
  },
  redis_commands_per_warm_auth: {
    script: 'redis-commands.ts',
    on: 'value',
    op: '==',
    target: 0,
    judged: true,
    what: 'Redis commands per /auth for a warm client',
  },
  redis_commands_per_shared_hit: {
    script: 'redis-commands.ts',
    on: 'value',
    op: '==',
    target: 1,
    judged: true,
    what: "Redis commands per /auth answered from the shared tier (another instance's fetch)",
  },
  cluster_cold_herd_fetches: {
    script: 'redis-cluster.ts',
    on: 'value',
    op: '==',
    target: 1,
    judged: true,
    what: 'the cold herd on a Redis Cluster (3 masters)',
  },
  cluster_redis_commands_per_warm_auth: {
    script: 'redis-cluster.ts',
    on: 'value',
    op: '==',
    target: 0,
    judged: true,
    what: 'Redis Cluster commands per /auth for a warm client',
  },
  memory_bytes_per_cached_client: {
    script: 'memory.ts',
    on: 'value',
    op: '<',
    target: 4096,
    judged: true,
    what: 'heap per client cached in process (10,000 clients)',
  },
  memory_growth_beyond_bound: {
    script: 'memory.ts',
    on: 'ratio',
    op: '<=',
    target: 0.1,
    judged: true,
    what: 'heap growth per client beyond memoryCacheSize, against the per-client cost',
  },
  warm_lookup_events_ratio: {
    script: 'events-overhead.ts',
    on: 'ratio',
    op: '>=',
    target: 0.97,
    judged: false,
    what: 'Client.find of a warm client with an event listener vs without (lookups per CPU-second)',
  },
  warm_client_find_vs_stored_ratio: {
    script: 'client-find.ts',
    on: 'ratio',
    op: '>=',
    target: 0.8,
    judged: true,
    what: 'Client.find of a warm CIMD client vs an adapter-stored one (lookups per CPU-second)',
  },
  legit_under_attack_success_rate: {
    script: 'under-attack.ts',
    on: 'value',
    op: '==',
    target: 1,
    judged: true,
    what: 'legitimate new clients resolved during the attack mix (fraction)',
  },
  legit_under_attack_p99_ratio: {
    script: 'under-attack.ts',
    on: 'ratio',
    op: '<=',
    target: 1.5,
    judged: true,
    what: 'median over interleaved rounds of p99(attack round) / p99(baseline round), legitimate clients',
  },
  legit_under_attack_aa_ratio: {
    script: 'under-attack.ts',
    on: 'ratio',
    op: 'within',
    target: [0.8, 1.25],
    judged: true,
    what: "A/A: the same p99 ratio between two baseline arms (the method's own noise)",
  },
  legit_under_attack_vs_load_p99_ratio: {
    script: 'under-attack.ts',
    on: 'ratio',
    op: '<=',
    target: 1.5,
    judged: false,
    what: 'p99 under attack vs a baseline with the same rate of well-behaved new clients (hostility apart from load)',
  },
  dns_blackholed_new_name_ms: {
    script: 'under-attack.ts',
    on: 'value',
    op: '<',
    target: 1000,
    judged: true,
    what: "a legitimate name's lookup with black-holed names pending (baseline: Node's dns.lookup)",
  },
  cold_auth_vs_builtin_ratio: {
    script: 'cold-path.ts',
    on: 'ratio',
    op: '>=',
    target: 1.0,
    judged: true,
    what: "first /auth of distinct new clients, this plugin vs oidc-provider's built-in CIMD (requests per server-second)",
  },
  cold_auth_vs_builtin_aa_ratio: {
    script: 'cold-path.ts',
    on: 'ratio',
    op: 'within',
    target: [0.9, 1.1],
    judged: false,
    what: 'A/A: the built-in provider against a second built-in provider, same cold load',
  },
  cold_resolve_vs_bare_fetch_ratio: {
    script: 'cold-resolve.ts',
    on: 'ratio',
    op: '<=',
    target: 1.5,
    judged: true,
    what: 'CPU per resolve() of a new client vs a bare undici GET + JSON.parse of the same document',
  },
  cold_resolve_vs_bare_fetch_aa_ratio: {
    script: 'cold-resolve.ts',
    on: 'ratio',
    op: 'within',
    target: [0.9, 1.1],
    judged: false,
    what: 'A/A: the bare GET + JSON.parse against itself',
  },
  cold_resolutions_two_instances_ratio: {
    script: 'cold-scale.ts',
    on: 'ratio',
    op: '>=',
    target: 1.8,
    judged: true,
    what: 'cold resolutions per second, two instances (processes) on one Redis vs one instance, each saturated',
  },
  cold_resolutions_two_instances_aa_ratio: {
    script: 'cold-scale.ts',
    on: 'ratio',
    op: 'within',
    target: [0.9, 1.1],
    judged: false,
    what: 'A/A: one instance against one instance',
  },
} as const satisfies Record<string, Goal>;

export type GoalName = keyof typeof GOALS;

export function isGoalName(name: string): name is GoalName {
  return Object.hasOwn(GOALS, name);
}

export function goalText(goal: Goal): string {
  if (goal.op === 'within') {
    const [low, high] = goal.target as readonly [number, number];
    return `${goal.on} within ${low}–${high}`;
  }
  return `${goal.on} ${goal.op} ${goal.target}`;
}

/** Whether the figures meet the goal; false when the compared figure is missing or not a number. */
export function meets(goal: Goal, figures: { value: number | null; ratio: number | null }): boolean {
  const x = goal.on === 'value' ? figures.value : figures.ratio;
  if (x === null || !Number.isFinite(x)) return false;
  switch (goal.op) {
    case '>=':
      return x >= (goal.target as number);
    case '<=':
      return x <= (goal.target as number);
    case '<':
      return x < (goal.target as number);
    case '==':
      return x === goal.target;
    case 'within': {
      const [low, high] = goal.target as readonly [number, number];
      return x >= low && x <= high;
    }
  }
}

/** The lines `script` owes, in table order. */
export function linesOf(script: string): GoalName[] {
  return (Object.keys(GOALS) as GoalName[]).filter((name) => GOALS[name].script === script);
}
