/**
 * Fetch budgets per registrable domain, the per-domain concurrency cap, and the capacity that only refreshes of
 * known clients may use (draft-ietf-oauth-client-id-metadata-document-03 §9.6, "Rate limits never lock out a known-good client").
 */
import { describe, expect, test } from '@jest/globals';
import { createCimd } from 'oidc-provider-cimd';
import {
  type BudgetTicket,
  budgetScope,
  FetchBudget,
  type SharedBudgetCheck,
} from '../../packages/oidc-provider-cimd/src/fetch/budget.js';

const roomy = { perHostBurst: 1000, perDomainBurst: 1000, maxConcurrentPerDomain: 1000 };
const release = (t: BudgetTicket) => {
  if (t.granted) t.release();
  return t;
};

describe('budget scope', () => {
  test('hosts of one registrable domain share a domain; private PSL suffixes count as public ones', () => {
    expect(budgetScope('https://a.b.example.com/x')).toEqual({
      host: 'a.b.example.com',
      domain: 'example.com',
      site: 'example.com',
    });
    expect(budgetScope('c.example.com:8443')).toEqual({
      host: 'c.example.com:8443',
      domain: 'example.com',
      site: 'example.com',
    });
    expect(budgetScope('https://x.y.example.co.uk/').domain).toBe('example.co.uk');
    // github.io is in the PSL's private section: every Pages site is its own owner.
    expect(budgetScope('https://alice.github.io/c').domain).toBe('alice.github.io');
    expect(budgetScope('https://bob.github.io/c').domain).toBe('bob.github.io');
    expect(budgetScope('https://93.184.216.10/c')).toEqual({
      host: '93.184.216.10',
      domain: '93.184.216.10',
      site: '93.184.216.10',
    });
    expect(budgetScope('https://[2001:4860::1]:8443/c').domain).toBe('[2001:4860::1]');
    expect(budgetScope('https://localhost:3000/c').domain).toBe('localhost');
  });
});

describe('per-domain budgets', () => {
  test('subdomains of one domain draw on one domain bucket; another domain is untouched', () => {
    let now = 0;
    const budget = new FetchBudget({ ...roomy, perDomainBurst: 5, perDomainPerSecond: 1, now: () => now });
    const results = Array.from({ length: 6 }, (_, i) => release(budget.take(`https://s${i}.slow.example/c`)));
    expect(results.map((r) => r.granted)).toEqual([true, true, true, true, true, false]);
    expect(results[5]).toMatchObject({ granted: false, code: 'domain_rate' });
    expect(release(budget.take('https://legit.other.example/c')).granted).toBe(true);
    now += 1000;
    expect(release(budget.take('https://s9.slow.example/c')).granted).toBe(true);
  });

  test('a per-domain cap on concurrent fetches: slow subdomains cannot hold more than their share', () => {
    const budget = new FetchBudget({ ...roomy, maxConcurrentPerDomain: 4, maxConcurrent: 32 });
    const held = Array.from({ length: 50 }, (_, i) => budget.take(`https://s${i}.slow.example/c`));
    expect(held.filter((t) => t.granted)).toHaveLength(4);
    expect(held[4]).toMatchObject({ granted: false, code: 'domain_concurrency' });
    expect(budget.inflight).toBe(4);
    // A client on another domain still gets a slot.
    expect(budget.take('https://legit.other.example/c').granted).toBe(true);
    // Released slots come back to the domain.
    release(held[0]!);
    expect(budget.take('https://s60.slow.example/c').granted).toBe(true);
  });

  test('host budgets still apply within a domain', () => {
    const budget = new FetchBudget({ ...roomy, perHostBurst: 2 });
    expect([1, 2, 3].map(() => release(budget.take('a.example.com')).granted)).toEqual([true, true, false]);
    expect(release(budget.take('a.example.com'))).toMatchObject({ code: 'host_rate' });
    expect(release(budget.take('b.example.com')).granted).toBe(true);
  });
});

describe('capacity reserved for known clients', () => {
  test('first-time ids cannot take the global slots reserved for refreshes of known clients', () => {
    const budget = new FetchBudget({ ...roomy, maxConcurrent: 4, reservedForKnown: 1 });
    const fresh = Array.from({ length: 4 }, (_, i) => budget.take(`https://d${i}.example/c`));
    expect(fresh.map((t) => t.granted)).toEqual([true, true, true, false]);
    expect(fresh[3]).toMatchObject({ granted: false, code: 'global_concurrency' });
    const known = budget.take('https://legit.example/c', { known: true });
    expect(known.granted).toBe(true);
    // And the whole cap still holds for known clients.
    expect(budget.take('https://legit2.example/c', { known: true })).toMatchObject({ code: 'global_concurrency' });
  });

  test('junk ids that empty a host bucket leave its reserve to known clients', () => {
    const budget = new FetchBudget({ perHostBurst: 8, perHostPerSecond: 0.001, now: () => 0 });
    for (let i = 0; i < 8; i += 1) expect(release(budget.take(`https://popular.example/junk-${i}`)).granted).toBe(true);
    expect(release(budget.take('https://popular.example/junk-x'))).toMatchObject({ code: 'host_rate' });
    // The reserve: a quarter of the burst, for known clients only.
    const known = [1, 2, 3].map(() => release(budget.take('https://popular.example/client', { known: true })).granted);
    expect(known).toEqual([true, true, false]);
  });

  test('known clients may exceed the per-domain concurrency cap by the reserved slots only', () => {
    const budget = new FetchBudget({ ...roomy, maxConcurrentPerDomain: 2, reservedPerDomainForKnown: 1 });
    expect([1, 2, 3].map(() => budget.take('https://a.example.com/c').granted)).toEqual([true, true, false]);
    expect(budget.take('https://b.example.com/c', { known: true }).granted).toBe(true);
    expect(budget.take('https://c.example.com/c', { known: true })).toMatchObject({ code: 'domain_concurrency' });
  });
});

describe('options and the shared check', () => {
  test('misspelt or invalid options are refused', () => {
    // The options table validates the budget (plugin/options.ts); the constructor takes validated options.
    expect(() => createCimd({ budget: { perHostBrust: 3 } as never })).toThrow(/unknown option "budget.perHostBrust"/);
    expect(() => createCimd({ budget: { maxConcurrent: 0 } })).toThrow(/budget.maxConcurrent/);
    expect(() => createCimd({ budget: { maxConcurrent: 4, reservedForKnown: 4 } })).toThrow(/budget.reservedForKnown/);
  });

  test('acquire: a cluster-wide refusal gives the in-process slot back; no answer leaves the decision local', async () => {
    const calls: unknown[] = [];
    let answer: Awaited<ReturnType<SharedBudgetCheck['take']>> = {
      granted: false,
      code: 'cluster_domain_rate',
      reason: 'cluster-wide fetch budget for example.com exhausted',
    };
    const budget = new FetchBudget(
      { maxConcurrent: 2, reservedForKnown: 0 },
      {
        take: async (scope, options) => {
          calls.push([scope, options]);
          return answer;
        },
      },
    );
    const refused = await budget.acquire('https://a.example.com/c', { known: true });
    expect(refused).toMatchObject({ granted: false, code: 'cluster_domain_rate' });
    expect(calls).toEqual([[{ host: 'a.example.com', domain: 'example.com', site: 'example.com' }, { known: true }]]);
    expect(budget.inflight).toBe(0);
    answer = undefined;
    const granted = await budget.acquire('https://a.example.com/c');
    expect(granted.granted).toBe(true);
    expect(budget.inflight).toBe(1);
  });
});
