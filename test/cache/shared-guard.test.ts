/**
 * The shared store's circuit breaker: after an operation times out, the store is left alone for a cool-down, so
 * that a request never waits on a stalled Redis for more than one deadline however many operations it makes.
 */
import { once } from 'node:events';
import net from 'node:net';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';

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

  test('an answer already received when the deadline comes due on a busy event loop still wins', async () => {
    // A connected pair of sockets; the "store" writes its answer before the loop is blocked, so when the loop
    // wakes up, the timer is due and the answer sits in the socket at the same time.
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [peer] = (await once(server, 'connection')) as [net.Socket];
    await once(client, 'connect');
    try {
      const guard = new SharedGuard({ timeoutMs: 20, cooldownMs: 1000 });
      const answer = guard.run(() => once(client, 'data').then(([chunk]) => String(chunk)));
      peer.write('pong');
      const until = performance.now() + 80;
      while (performance.now() < until) {} // the event loop is saturated past the deadline
      expect(await answer).toEqual({ value: 'pong' });
      expect(guard.available).toBe(true);
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });
});
