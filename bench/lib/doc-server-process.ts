/**
 * The document host of doc-server.ts in a child process, so that its TLS handshakes run on the other core and its
 * allocations stay out of the heap a benchmark measures.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./doc-server-child.ts', import.meta.url));

export interface DocServerProcess {
  url: string;
  close(): Promise<void>;
}

export async function startDocServerProcess(key: string, cert: string): Promise<DocServerProcess> {
  const child = fork(CHILD, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 2, 'ipc'] });
  child.send({ key, cert });
  const [message] = (await once(child, 'message')) as [{ url: string }];
  return {
    url: message.url,
    async close() {
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}
