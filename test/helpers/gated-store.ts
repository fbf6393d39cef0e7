/**
 * A Keyv store (a Map underneath) whose answers the test can hold back or fail, one operation kind and key at
 * a time: the "gate-able store" of the commit tests. `hold('set', match)` makes the next matching `set` wait
 * until its release is called (the write has not happened yet); `fail('delete', match)` makes matching
 * deletes throw (a READONLY replica, a dropped connection) until `heal()`.
 */
import { Keyv } from '@keyv/redis';

export type StoreOp = 'get' | 'set' | 'delete';

interface Gate {
  op: StoreOp;
  match: (key: string) => boolean;
  reached: () => void;
  opened: Promise<void>;
}

export interface GatedStore {
  /** A Keyv on the store (one per plugin instance, or share one). */
  keyv(): Keyv;
  /** The raw map: key → serialised value. */
  readonly map: Map<string, unknown>;
  /**
   * Holds the next `op` on a key matching `match` until `release()`. `reached` resolves once an operation is
   * waiting at the gate.
   */
  hold(op: StoreOp, match: (key: string) => boolean): { reached: Promise<void>; release(): void };
  /** Every `op` on a matching key throws until `heal()`. */
  fail(op: StoreOp, match: (key: string) => boolean): void;
  heal(): void;
}

export function createGatedStore(): GatedStore {
  const map = new Map<string, unknown>();
  const gates: Gate[] = [];
  const failures: { op: StoreOp; match: (key: string) => boolean }[] = [];

  const pass = async (op: StoreOp, key: string) => {
    if (failures.some((f) => f.op === op && f.match(key))) throw new Error(`gated store: ${op} ${key} refused`);
    const index = gates.findIndex((g) => g.op === op && g.match(key));
    if (index === -1) return;
    const [gate] = gates.splice(index, 1);
    gate!.reached();
    await gate!.opened;
  };

  const store = {
    async get(key: string) {
      await pass('get', key);
      return map.get(key);
    },
    async set(key: string, value: unknown) {
      await pass('set', key);
      map.set(key, value);
      return true;
    },
    async delete(key: string) {
      await pass('delete', key);
      return map.delete(key);
    },
    async clear() {
      map.clear();
    },
    async has(key: string) {
      return map.has(key);
    },
    on() {
      return store;
    },
  };

  return {
    map,
    keyv: () => new Keyv({ store: store as never, throwOnErrors: true }),
    hold(op, match) {
      let reached!: () => void;
      let release!: () => void;
      const reachedP = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const opened = new Promise<void>((resolve) => {
        release = resolve;
      });
      gates.push({ op, match, reached, opened });
      return { reached: reachedP, release };
    },
    fail(op, match) {
      failures.push({ op, match });
    },
    heal() {
      failures.splice(0);
    },
  };
}
