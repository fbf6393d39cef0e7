/**
 * Every operation on the shared store (Redis) goes through here: it gets a deadline, its errors become "no
 * answer", and a store that has just timed out is left alone for a short cool-down, so that a request never
 * waits on a dead or stalled Redis for more than one deadline, however many shared operations it would make.
 *
 * Why only timeouts open the circuit: a disconnected client (offline queue disabled) fails at once and costs
 * nothing, and keeping it in the loop means the shared tier is used again the moment the client reconnects.
 * A stalled server (accepting connections, never answering) is what costs a deadline per operation.
 */
export interface SharedGuardOptions {
  /** Deadline for one operation, ms. */
  timeoutMs: number;
  /** After a timeout, operations are skipped (answer "unavailable" at once) for this long, ms. Default 1000. */
  cooldownMs?: number;
}

export type Answer<T> = { value: T } | undefined;

const TIMED_OUT = Symbol('timed out');

export class SharedGuard {
  readonly timeoutMs: number;
  readonly #cooldownMs: number;
  #openUntil = 0;

  constructor(options: SharedGuardOptions) {
    this.timeoutMs = options.timeoutMs;
    this.#cooldownMs = options.cooldownMs ?? 1000;
  }

  /** False while the circuit is open (a recent operation timed out). */
  get available(): boolean {
    return this.#openUntil === 0 || performance.now() >= this.#openUntil;
  }

  /** Runs `op` under the deadline. `undefined`: no answer (error, timeout, or circuit open). Never rejects. */
  async run<T>(op: () => Promise<T>): Promise<Answer<T>> {
    if (!this.available) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        op(),
        new Promise<typeof TIMED_OUT>((resolve) => {
          // The deadline is declared one event-loop turn late, after the poll phase: on a saturated loop the timer
          // can come due while the store's answer already sits in the socket, and that answer must win.
          timer = setTimeout(() => setImmediate(resolve, TIMED_OUT), this.timeoutMs);
          timer.unref();
        }),
      ]);
      if (result === TIMED_OUT) {
        this.#openUntil = performance.now() + this.#cooldownMs;
        return undefined;
      }
      this.#openUntil = 0;
      return { value: result as T };
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
