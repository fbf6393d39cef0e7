/**
 * Redis Sentinel (a primary, a replica and three sentinels, started here): the same guarantees as one Redis,
 * connected through the sentinels (REDIS_SENTINELS / REDIS_SENTINEL_NAME), following a failover by itself.
 */
import { startRedisSentinel, type TestRedisSentinel } from '../helpers/redis-server.js';
import { describeTopology } from './support.js';

let setup: TestRedisSentinel;

describeTopology(
  'Redis Sentinel (1 primary, 1 replica, 3 sentinels)',
  async () => {
    setup = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    return {
      topology: 'sentinel',
      connection: { sentinels: setup.sentinelList, sentinelName: setup.name },
      async killMasterOf() {
        await (await setup.primary()).kill();
      },
      // The killed primary stays down: the promoted replica serves alone.
      waitRecovered: () => setup.waitHealthy(0),
      async exists(key) {
        return (await (await setup.primary()).command('EXISTS', key)) === 1;
      },
      sameMaster: async () => true,
      async subscribers(channel) {
        const answer = await (await setup.primary()).command('PUBSUB', 'NUMSUB', channel);
        return Array.isArray(answer) ? Number(answer[1]) : 0;
      },
    };
  },
  async () => {
    await setup?.close();
  },
);
