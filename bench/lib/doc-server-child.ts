/** Child side of doc-server-process.ts: receives the test key pair, starts the host, reports its origin. */
import { startDocServer } from './doc-server.js';

process.once('message', (message: { key: string; cert: string }) => {
  startDocServer({ countPaths: false, certificate: message }).then(
    (docs) => process.send?.({ url: docs.url }),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
