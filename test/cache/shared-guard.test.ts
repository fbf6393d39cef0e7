/**
 * The shared store's circuit breaker: after an operation times out, the store is left alone for a cool-down, so
 * that a request never waits on a stalled Redis for more than one deadline however many operations it makes.
 */
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/cache/shared-guard.js';

const never = () => new Promise<never>(() => {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SharedGuard circuit breaker', () => {
  test('a timeout opens the circuit: operations are skipped without being called until the cool-down ends', async () => {
    const guard = new SharedGuard({ timeoutMs: 20, cooldownMs: 300 });
    expect(await guard.run(never)).toBeUndefined();
    expect(guard.available).toBe(false);
    let calls = 0;
    const op = async () => {
      calls += 1;
      return 'ok';
    };
    expect(await guard.run(op)).toBeUndefined();
    expect(calls).toBe(0);
    await sleep(320);
    expect(guard.available).toBe(true);
    expect(await guard.run(op)).toEqual({ value: 'ok' });
    expect(calls).toBe(1);
  });

  test('an error (a disconnected client failing at once) does not open the circuit', async () => {
    const guard = new SharedGuard({ timeoutMs: 20, cooldownMs: 300 });
    expect(await guard.run(() => Promise.reject(new Error('down')))).toBeUndefined();
    expect(guard.available).toBe(true);
    expect(await guard.run(async () => 1)).toEqual({ value: 1 });
  });
});
