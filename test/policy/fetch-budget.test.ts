import { FetchBudget } from '../../packages/oidc-provider-cimd/src/fetch/budget.js';

describe('fetch budget', () => {
  test('a host gets its burst, then one fetch per refill interval', () => {
    let now = 0;
    const budget = new FetchBudget({ perHostBurst: 3, perHostPerSecond: 2, now: () => now });
    const granted = () => {
      const t = budget.take('a.com');
      if (t.granted) t.release();
      return t.granted;
    };
    expect([granted(), granted(), granted(), granted()]).toEqual([true, true, true, false]);
    now += 499;
    expect(granted()).toBe(false);
    now += 1;
    expect(granted()).toBe(true);
    expect(granted()).toBe(false);
    // Other hosts have their own bucket.
    expect(budget.take('b.com').granted).toBe(true);
  });

  test('the bucket never refills beyond the burst', () => {
    let now = 0;
    const budget = new FetchBudget({ perHostBurst: 2, perHostPerSecond: 100, now: () => now });
    budget.take('a.com');
    now += 3_600_000;
    const results = [1, 2, 3].map(() => budget.take('a.com').granted);
    expect(results).toEqual([true, true, false]);
  });

  test('global concurrency is capped and slots come back on release (once)', () => {
    const budget = new FetchBudget({ maxConcurrent: 2, perHostBurst: 100 });
    const a = budget.take('a.com');
    const b = budget.take('b.com');
    const c = budget.take('c.com');
    expect([a.granted, b.granted, c.granted]).toEqual([true, true, false]);
    expect(budget.inflight).toBe(2);
    if (a.granted) {
      a.release();
      a.release();
    }
    expect(budget.inflight).toBe(1);
    expect(budget.take('c.com').granted).toBe(true);
  });

  test('host tracking is bounded', () => {
    const budget = new FetchBudget({ perHostBurst: 1, maxHosts: 2 });
    for (const host of ['a', 'b', 'c']) {
      const t = budget.take(host);
      if (t.granted) t.release();
    }
    // 'a' was forgotten (least recently used), so it has a fresh bucket again; 'c' does not.
    expect(budget.take('a').granted).toBe(true);
    expect(budget.take('c').granted).toBe(false);
  });
});
