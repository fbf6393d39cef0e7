/**
 * One fetch across the cluster (docs/caching.md): the instance that takes the fetch lock fetches; the others
 * wait for its published outcome instead of fetching. See fetch-lock.ts for the lock and outcome protocol; this
 * is the waiting side, kept apart from the resolver so that the resolver only orchestrates.
 */
import type { CacheEntry, CacheRead } from '../core/entry.js';
import { CimdError, type FailureClass } from '../core/errors.js';
import type { FetchLock, HeldLock } from './fetch-lock.js';

/** What a lookup that went through the lock learned. */
export type ClusterFetch<T> =
  /** This instance held the lock and ran the fetch. */
  | { kind: 'fetched'; result: T }
  /** Another instance fetched and stored a current entry (at revision `rev`). */
  | { kind: 'entry'; entry: CacheEntry; rev: number | undefined }
  /** Another instance's fetch failed: answer exactly as it did (same error, same failure class). */
  | { kind: 'failed'; error: CimdError; failure: FailureClass }
  /** Fetch directly: no lock service, the holder could not share its result, or the wait ran out. */
  | { kind: 'direct' };

export interface ClusterFetchOptions<T> {
  lock: FetchLock;
  cid: string;
  /** The copy this instance holds: a shared entry must be at least as recent to count. */
  previous: CacheEntry | undefined;
  /** Longest wait for another instance's fetch, ms. */
  waitMs: number;
  /** Runs the fetch as the lock holder; `report` tells the waiters its outcome. */
  fetchAsHolder: (held: HeldLock) => Promise<T>;
  /** Reads the shared store's record. */
  readShared: (cid: string) => Promise<CacheRead>;
  isFresh: (entry: CacheEntry) => boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Waited = ClusterFetch<never> | { kind: 'retry' };

export async function fetchOnceInCluster<T>(o: ClusterFetchOptions<T>): Promise<ClusterFetch<T>> {
  const deadline = performance.now() + o.waitMs;
  const seen = new Set<string>();
  while (performance.now() < deadline) {
    const acquired = await o.lock.acquire(o.cid);
    if (acquired.kind === 'unavailable') break;
    if (acquired.kind === 'held') return { kind: 'fetched', result: await o.fetchAsHolder(acquired) };
    if (acquired.holder) seen.add(acquired.holder);
    const waited = await waitForHolder(o, seen, deadline);
    if (waited.kind === 'retry') continue;
    return waited;
  }
  return { kind: 'direct' };
}

async function waitForHolder<T>(o: ClusterFetchOptions<T>, seen: Set<string>, deadline: number): Promise<Waited> {
  let delay = 10;
  while (performance.now() < deadline) {
    await sleep(Math.min(delay, Math.max(1, deadline - performance.now())));
    delay = Math.min(delay * 1.5, 150);
    const poll = await o.lock.poll(o.cid);
    if (!poll) return { kind: 'direct' };
    if (poll.holder) seen.add(poll.holder);
    // Only an outcome of a holder this waiter saw counts: an older round's outcome says nothing about this one.
    const outcome = poll.outcome && seen.has(poll.outcome.token) ? poll.outcome : null;
    if (outcome?.kind === 'stored') {
      const { entry, rev } = await o.readShared(o.cid);
      const current = entry && o.isFresh(entry) && (!o.previous || entry.fetchedAt >= o.previous.fetchedAt);
      return current ? { kind: 'entry', entry, rev } : { kind: 'direct' };
    }
    if (outcome?.kind === 'failed') {
      return {
        kind: 'failed',
        error: new CimdError(outcome.code, outcome.message, outcome.rule ? { rule: outcome.rule } : {}),
        failure: outcome.failure,
      };
    }
    if (outcome?.kind === 'unstored') return { kind: 'direct' };
    // The lock went away without an outcome for us (its holder died): try to take it.
    if (!poll.holder) return { kind: 'retry' };
  }
  return { kind: 'direct' };
}
