/**
 * The operator API: inspect, refresh, pin, unpin, purge. Each command obeys the URL rules and the trust policy
 * (SPEC.domainTrust, docs/operator-api.md: a denied client id is never
 * fetched, not by an operator either), is one commit through the document cache (the one owner of client
 * state: no lookup that started before it can undo it, on any instance or process), and emits an audit event
 * (docs/events.md).
 *
 * Operator commands fail loudly: one that the shared store did not confirm, or that another operator command
 * overtook, throws an {@link OperatorCommitError} (stable `code`) after an audit event that carries `commit`.
 * Success means the shared store holds the command's result.
 */
import type { CacheEntry, CommitAnswer, DocumentCache } from '../cache/document-cache.js';

export type { CacheInspection } from '../core/entry.js';

import type { CacheInspection } from '../core/entry.js';
import { CimdError, OperatorCommitError, Reason, type ReasonCode } from '../core/errors.js';
import type { Emit } from '../observe/events.js';
import type { Backoff } from './backoff.js';
import type { Judge } from './judge.js';
import { failed, type Loader, type LoadMode, type Result } from './load.js';
import { reportResult } from './report.js';
import { SingleFlight } from './single-flight.js';

export interface OperatorApiOptions {
  /** URL rules and trust policy; throws CimdError (and reports it) when the CID may not be fetched. */
  admit: (cid: string, started: number) => Promise<void>;
  loader: Loader;
  judge: Judge;
  backoff: Backoff;
  cache: DocumentCache;
  emit: Emit;
  /** `refresh()` of one CID at most once per this many ms, counted from the last successful refresh; 0: none. */
  refreshCooldownMs: number;
  now: () => number;
}

type Command = 'pin' | 'unpin' | 'purge' | 'refresh';
const AUDIT: Record<Command, ReasonCode> = {
  pin: Reason.OperatorPin,
  unpin: Reason.OperatorUnpin,
  purge: Reason.OperatorPurge,
  refresh: Reason.OperatorRefresh,
};

export class OperatorApi {
  readonly #o: OperatorApiOptions;
  readonly #refreshes = new SingleFlight<Result>();

  constructor(options: OperatorApiOptions) {
    this.#o = options;
  }

  async inspect(cid: string): Promise<CacheInspection | undefined> {
    const found = await this.#o.cache.get(cid);
    if (!found) return undefined;
    const now = this.#o.now();
    const { entry } = found;
    return {
      entry,
      tier: found.tier,
      fresh: entry.pinned === true || entry.freshUntil > now,
      ageMs: now - entry.fetchedAt,
      expiresInMs: entry.pinned ? Number.POSITIVE_INFINITY : entry.freshUntil - now,
    };
  }

  #audit(command: Command, cid: string, started: number, detail?: string, commit?: CommitAnswer['status']): void {
    const extra = {
      ...(detail === undefined ? {} : { detail }),
      ...(commit === undefined || commit === 'applied' ? {} : { commit }),
    };
    this.#o.emit(AUDIT[command], cid, started, 'none', Object.keys(extra).length > 0 ? extra : undefined);
  }

  /** Throws (after its audit event) unless the commit applied. */
  #confirm(command: Command, cid: string, started: number, status: CommitAnswer['status'] | undefined): void {
    if (status === undefined || status === 'applied') return;
    const error = new OperatorCommitError(
      status === 'superseded' ? 'CIMD_COMMIT_SUPERSEDED' : 'CIMD_COMMIT_UNCONFIRMED',
      command,
      cid,
    );
    this.#audit(command, cid, started, error.message, status);
    throw error;
  }

  #operatorMode(rev: number | undefined, pinned: boolean, refresh: boolean): LoadMode {
    return { rev, authority: 'operator', serveStale: false, ignoreBackoff: true, pinned, refresh };
  }

  /**
   * Fetches now, whatever the cache holds (docs/operator-api.md), and replaces the stored entry only with a
   * valid document. A pinned client stays pinned. Concurrent refreshes in this process share one fetch (each
   * caller gets its own event, a refusal by the cooldown included); a lookup never shares a refresh's slot.
   * The cooldown lives in the shared store (the entry's `refreshedAt`) and counts from a successful refresh, so
   * a failed refresh can be retried at once, and every instance and the command line see the same cooldown.
   */
  async refresh(cid: string): Promise<CacheEntry> {
    const started = this.#o.emit.start();
    await this.#o.admit(cid, started);
    const flight = this.#refreshes.run('refresh', cid, async () => {
      const read = await this.#o.cache.readShared(cid);
      const cooldown = this.#o.refreshCooldownMs;
      const last = read.entry?.refreshedAt;
      const now = this.#o.now();
      if (cooldown > 0 && last !== undefined && now - last < cooldown) {
        const error = new CimdError(
          Reason.RateLimited,
          `refreshed ${Math.round((now - last) / 1000)} s ago; the refresh cooldown is ${Math.round(cooldown / 1000)} s`,
        );
        return failed(error, 'none', 'limited');
      }
      // The stored copy serves only for a conditional request, and only when it passes today's rules (a 304
      // judges it again anyway).
      const judged = read.entry ? this.#o.judge.judge(read.entry) : undefined;
      const previous = judged?.ok ? judged.entry : undefined;
      const pinned = read.entry?.pinned === true;
      return this.#o.loader.fetchAndStore(cid, previous, this.#operatorMode(read.rev, pinned, true));
    });
    const result = await flight.promise;
    reportResult(this.#o.emit, cid, started, result, flight.joined);
    if (!result.ok) throw result.error;
    this.#confirm('refresh', cid, started, result.answer.commit);
    this.#o.backoff.clear(cid);
    this.#audit('refresh', cid, started, result.answer.reason);
    return result.answer.entry;
  }

  /**
   * Pre-registers a client (SPEC.preRegistration): validates its document now
   * (fetched from the CID, or the one given) and commits it as pinned. A pinned client resolves without any
   * fetch, whatever its host does, until an operator unpins (or purges) it: no lookup, revocation or "mark in
   * use" replaces or removes it. Throws CimdError when the CID or the document is rejected, and
   * OperatorCommitError when the shared store does not confirm the pin.
   */
  async pin(cid: string, options: { document?: string | Uint8Array } = {}): Promise<CacheEntry> {
    const started = this.#o.emit.start();
    await this.#o.admit(cid, started);
    const mode = this.#operatorMode(undefined, true, false);
    let entry: CacheEntry;
    let status: CommitAnswer['status'] | undefined;
    if (options.document !== undefined) {
      entry = this.#o.loader.pinnedFromDocument(cid, options.document);
      const answer = await this.#o.loader.commit(cid, entry, mode);
      await this.#o.loader.publish(cid, answer);
      status = answer.status;
    } else {
      const result = await this.#o.loader.fetchAndStore(cid, undefined, mode);
      if (!result.ok) {
        reportResult(this.#o.emit, cid, started, result, false);
        throw result.error;
      }
      entry = result.answer.entry;
      status = result.answer.commit ?? 'applied';
    }
    this.#confirm('pin', cid, started, status);
    this.#o.backoff.clear(cid);
    this.#audit('pin', cid, started, options.document !== undefined ? 'document given' : 'fetched');
    return entry;
  }

  /**
   * Removes a pin, and with it the entry (as `purge` does): the next lookup fetches. False when not pinned.
   * Throws OperatorCommitError when the shared store does not confirm.
   */
  async unpin(cid: string): Promise<boolean> {
    const started = this.#o.emit.start();
    const answer = await this.#o.cache.commit(cid, {
      authority: 'operator',
      requirePinned: true,
      entry: undefined,
    });
    if (answer.status === 'superseded') return false;
    this.#confirm('unpin', cid, started, answer.status);
    await this.#o.loader.publish(cid, answer);
    this.#o.backoff.clear(cid);
    this.#audit('unpin', cid, started);
    return true;
  }

  /**
   * Removes the entry (pinned or not) from the shared store and this process' tier, leaving a tombstone that no
   * lookup started earlier can overwrite, and (Redis) asks the other instances to drop their in-process copies;
   * an instance that misses the message keeps its copy until it goes stale. Throws OperatorCommitError when the
   * shared store does not confirm.
   */
  async purge(cid: string): Promise<void> {
    const started = this.#o.emit.start();
    const answer = await this.#o.cache.commit(cid, { authority: 'operator', entry: undefined });
    this.#confirm('purge', cid, started, answer.status);
    await this.#o.loader.publish(cid, answer);
    this.#o.backoff.clear(cid);
    this.#audit('purge', cid, started);
  }
}
