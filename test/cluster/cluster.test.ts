/**
 * Redis Cluster (3 masters, each with a replica, started here with `redis-cli --cluster create`): the same
 * guarantees as one Redis, with any node's URL as the seed and the topology asked from the server.
 */
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-server.js';
import { describeTopology } from './support.js';

let cluster: TestRedisCluster;

describeTopology(
  'a Redis Cluster (3 masters, 3 replicas)',
  async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    // A replica's URL works as the seed too: the client finds every master from it.
    const seed = (await cluster.masters()).length ? cluster.nodes[cluster.nodes.length - 1]!.url : cluster.url;
    return {
      topology: 'cluster',
      connection: { url: seed },
      async killMasterOf(key) {
        await (await cluster.masterOf(key)).kill();
      },
      waitRecovered: () => cluster.waitHealthy(),
      async exists(key) {
        return (await (await cluster.masterOf(key)).command('EXISTS', key)) === 1;
      },
      async subscribers(channel) {
        const answer = await (await cluster.masterOf(channel)).command('PUBSUB', 'SHARDNUMSUB', channel);
        return Array.isArray(answer) ? Number(answer[1]) : 0;
      },
      async sameMaster(x, y) {
        return (await cluster.masterOf(x)) === (await cluster.masterOf(y));
      },
    };
  },
  async () => {
    await cluster?.close();
  },
);
