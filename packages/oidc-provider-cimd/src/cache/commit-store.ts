/**
 * The only code that writes a client's record in the shared store. Every change is a commit against the
 * revision the writer read (docs/caching.md, "One owner of client state"), answering
 * `applied`, `superseded` (another writer won: the caller keeps its answer for this request, and writes nothing)
 * or `unavailable` (the store did not confirm).
 *
 * Two implementations with the same semantics:
 * - Redis (any topology): one Lua script per commit, on the record's single key, so one round trip, atomic on
 *   the server, on every instance and every process (the `cimd` command line included). A script that touches
 *   one key runs on the master of that key's slot on a Redis Cluster.
 * - Any other Keyv store: commits of one CID are serialised per store object in this process (every plugin of
 *   the process sharing the store is fenced, which covers the built-in memory store completely). Across
 *   processes such a store offers no compare-and-set, so a pin is also kept under a key of its own that no lookup
 *   ever writes (`cimd:pin:<cid>`), and reads prefer it: a pin is only replaced or removed by an operator
 *   command on every store. Startup says what does not hold across processes there (cluster/limits.ts).
 */
import type Keyv from 'keyv';
import type { RedisHandle } from '../cluster/redis.js';
import {
  type CacheEntry,
  DOCUMENT_KEY_PREFIX,
  decodeRecord,
  PIN_KEY_PREFIX,
  parseEnvelope,
  recordTail,
  type StoredRecord,
} from '../core/entry.js';
import type { SharedGuard } from '../core/shared-guard.js';
import { readEach } from './shared-store.js';

export type CommitStatus = 'applied' | 'superseded' | 'unavailable';

export interface Change {
  /** Lookups (store, evict, revoke, mark in use) never replace or remove a pinned entry; operator commands may. */
  authority: 'lookup' | 'operator';
  /** Applies only while the record is still at this revision; `undefined` (operator commands): any revision. */
  expected?: number | undefined;
  /** Applies only while the record is pinned (unpin). */
  requirePinned?: boolean;
  /** The entry after the commit; `undefined` writes a tombstone. */
  entry: CacheEntry | undefined;
  /** Expiry of what is written, ms; 0: none (a pin). */
  ttlMs: number;
}

export interface CommitAnswer {
  status: CommitStatus;
  /** The record's revision after the commit (applied) or the one that won (superseded); unknown when unavailable. */
  rev?: number;
  /** Whether the record is pinned (superseded answers). */
  pinned?: boolean;
}

export interface CommitStore {
  /** `script`: atomic across processes (Redis); `keyv`: atomic inside this process only. */
  readonly kind: 'script' | 'keyv';
  /** One read of the record: `undefined` when the store did not answer. */
  read(cid: string): Promise<StoredRecord | undefined>;
  commit(cid: string, change: Change): Promise<CommitAnswer>;
}

// KEYS[1] = record. ARGV: [1] authority, [2] expected revision or '', [3] '1' = only while pinned,
// [4] record tail (see entry.ts), [5] ttl ms (0: none), [6] Keyv `expires` (ms or null).
// Returns { applied (1/0), revision, pinned (1/0) }. A value that is not a record reads as revision 0.
export const COMMIT_SCRIPT = `local cur = redis.call('GET', KEYS[1])
local rev, pinned = 0, false
if cur then
  local ok, d = pcall(cjson.decode, cur)
  if ok and type(d) == 'table' and type(d.value) == 'table' then
    if type(d.value.rev) == 'number' then rev = d.value.rev end
    pinned = d.value.pinned == true
  end
end
local p = 0
if pinned then p = 1 end
if ARGV[1] == 'lookup' and pinned then return {0, rev, p} end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= rev then return {0, rev, p} end
if ARGV[3] == '1' and not pinned then return {0, rev, p} end
local n = rev + 1
local body = '{"value":{"v":3,"rev":' .. n .. ARGV[4] .. '},"expires":' .. ARGV[6] .. '}'
if ARGV[5] == '0' then redis.call('SET', KEYS[1], body) else redis.call('SET', KEYS[1], body, 'PX', ARGV[5]) end
return {1, n, 0}`;

export function redisCommitStore(handle: RedisHandle, guard: SharedGuard, now: () => number): CommitStore {
  const key = (cid: string) => `${handle.keys.prefix}${DOCUMENT_KEY_PREFIX}${cid}`;
  return {
    kind: 'script',
    async read(cid) {
      const answer = await guard.run(() => handle.send(key(cid), ['GET', key(cid)], guard.timeoutMs));
      if (!answer) return undefined;
      return decodeRecord(parseEnvelope(answer.value), cid);
    },
    async commit(cid, change) {
      const expires = change.ttlMs > 0 ? String(now() + change.ttlMs) : 'null';
      const args = [
        'EVAL',
        COMMIT_SCRIPT,
        '1',
        key(cid),
        change.authority,
        change.expected === undefined ? '' : String(change.expected),
        change.requirePinned ? '1' : '0',
        recordTail(change.entry),
        String(Math.max(0, Math.ceil(change.ttlMs))),
        expires,
      ];
      const answer = await guard.run(() => handle.send(key(cid), args, guard.timeoutMs));
      if (!answer || !Array.isArray(answer.value)) return { status: 'unavailable' };
      const [applied, rev, pinned] = answer.value as number[];
      return { status: applied === 1 ? 'applied' : 'superseded', rev: Number(rev), pinned: pinned === 1 };
    },
  };
}

/** Commits of one CID on one store object run one after another in this process. */
const queues = new WeakMap<object, Map<string, Promise<unknown>>>();

function serialised<T>(store: object, cid: string, work: () => Promise<T>): Promise<T> {
  let perStore = queues.get(store);
  if (!perStore) {
    perStore = new Map();
    queues.set(store, perStore);
  }
  const map = perStore;
  const before = map.get(cid) ?? Promise.resolve();
  const run = before.then(work, work);
  const settled = run.then(
    () => {},
    () => {},
  );
  map.set(cid, settled);
  void settled.then(() => {
    if (map.get(cid) === settled) map.delete(cid);
  });
  return run;
}

export function keyvCommitStore(keyv: Keyv, guard: SharedGuard): CommitStore {
  const store = ((keyv as unknown as { store?: object }).store ?? keyv) as object;
  const docKey = (cid: string) => DOCUMENT_KEY_PREFIX + cid;
  const pinKey = (cid: string) => PIN_KEY_PREFIX + cid;

  /** The record, with a pin kept under its own key winning over whatever a lookup wrote. */
  const readNow = async (cid: string): Promise<StoredRecord & { pinned: boolean }> => {
    const [doc, pin] = await readEach(keyv, [docKey(cid), pinKey(cid)]);
    const record = decodeRecord(doc, cid);
    const pinned = decodeRecord(pin, cid).entry;
    if (pinned?.pinned) return { rev: record.rev, entry: pinned, pinned: true };
    return { ...record, pinned: record.entry?.pinned === true };
  };

  return {
    kind: 'keyv',
    async read(cid) {
      const answer = await guard.run(() => readNow(cid));
      return answer ? { rev: answer.value.rev, entry: answer.value.entry } : undefined;
    },
    async commit(cid, change) {
      const answer = await guard.run(() =>
        serialised(store, cid, async (): Promise<CommitAnswer> => {
          const current = await readNow(cid);
          const p = current.pinned;
          if (change.authority === 'lookup' && p) return { status: 'superseded', rev: current.rev, pinned: p };
          if (change.expected !== undefined && change.expected !== current.rev) {
            return { status: 'superseded', rev: current.rev, pinned: p };
          }
          if (change.requirePinned && !p) return { status: 'superseded', rev: current.rev, pinned: p };
          const rev = current.rev + 1;
          const ttl = change.ttlMs > 0 ? Math.ceil(change.ttlMs) : undefined;
          // A pin goes first and leaves last, so that a commit cut short never leaves an unpinned gap.
          if (change.authority === 'operator' && change.entry?.pinned) {
            if (!(await keyv.set(pinKey(cid), { v: 3, rev, pinned: true, entry: change.entry }))) {
              return { status: 'unavailable' };
            }
          }
          const record = { v: 3, rev, ...(change.entry?.pinned ? { pinned: true } : {}), entry: change.entry ?? null };
          if (!(await keyv.set(docKey(cid), record, ttl))) return { status: 'unavailable' };
          if (change.authority === 'operator' && !change.entry?.pinned && p) await keyv.delete(pinKey(cid));
          return { status: 'applied', rev };
        }),
      );
      return answer ? answer.value : { status: 'unavailable' };
    },
  };
}
