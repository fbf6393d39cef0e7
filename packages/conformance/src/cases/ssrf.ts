/**
 * SSRF (CIMD -03 §9.6): document hosts whose names resolve to addresses the server must never dial. Only in
 * namespace mode, where the kit runs the server under test inside a network namespace with the kit's DNS server
 * and a victim listener on each forbidden address that counts connections. A case passes when the request is
 * refused and the victim saw no connection.
 */

import { respond } from '../doc-host.js';
import type { CaseVerdict, Level } from '../types.js';
import { type CaseDef, judgeRefused } from './common.js';

/** What namespace mode provides to SSRF cases. */
export interface SsrfLab {
  /**
   * Registers `name` (a public-looking DNS name) answering with `addresses` (TTL `ttl`, or a sequence of answers
   * for rebinding: each query takes the next), starts a victim listener on each address and port, and returns the
   * client id on that name.
   */
  host(
    name: string,
    answers: string[][],
    options?: { ttl?: number; path?: string },
  ): Promise<{ cid: string; connections(): number; close(): Promise<void> }>;
  /** A public-looking origin serving kit documents normally, for jwks_uri cases. */
  readonly publicOrigin: string;
}

export const DEV_REASON =
  'development mode: the server under test is configured to allow loopback document hosts, and the kit cannot give names public-looking addresses without a network namespace (use --mode netns on Linux as root)';

/**
 * `refused`: the request must be refused and no victim dialled. `no-connection`: only the victim count matters
 * (rebinding: a server that dials the address it checked may accept, from the public address).
 */
function ssrfCase(
  id: string,
  title: string,
  level: Level,
  answers: string[][],
  options: { ttl?: number; judge?: 'refused' | 'no-connection' } = {},
): CaseDef {
  return {
    id: `ssrf.${id}`,
    family: 'ssrf',
    title,
    level,
    cite: 'CIMD -03 §9.6',
    modes: ['netns'],
    notRunReason: DEV_REASON,
    schedule: 'slow',
    async run(ctx): Promise<CaseVerdict> {
      const lab = ctx.settings.lab;
      if (!lab) return { pass: false, detail: 'no namespace lab' };
      const victim = await lab.host(`${id}-${ctx.settings.runId}`, answers, {
        ttl: options.ttl ?? 60,
        path: ctx.path(),
      });
      ctx.serve(ctx.path(), respond.json(ctx.doc(victim.cid)));
      try {
        const answer = await ctx.authorize(victim.cid);
        const connections = victim.connections();
        if (connections > 0) {
          return {
            pass: false,
            detail: `the server connected ${connections}× to a forbidden address (${answers.flat().join(', ')}); then ${answer.kind}`,
          };
        }
        if (options.judge === 'no-connection') {
          if (answer.kind === 'redirect-error') return judgeRefused(answer, ctx.fetches());
          return {
            pass: true,
            detail: `no connection to a forbidden address; ${answer.kind}, ${ctx.fetches()} fetch(es) from the public one`,
          };
        }
        return judgeRefused(answer, ctx.fetches(), 'any');
      } finally {
        await victim.close();
      }
    },
  };
}

export const ssrfCases: CaseDef[] = [
  ssrfCase('loopback-v4', 'a name resolving to 127.0.0.1', 'MUST', [['127.0.0.1']]),
  ssrfCase('loopback-v4-other', 'a name resolving to 127.0.0.2', 'MUST', [['127.0.0.2']]),
  ssrfCase('loopback-v6', 'a name resolving to ::1', 'MUST', [['::1']]),
  ssrfCase('private-10', 'a name resolving to 10.0.0.0/8', 'MUST', [['10.77.0.10']]),
  ssrfCase('private-172', 'a name resolving to 172.16.0.0/12', 'MUST', [['172.20.0.10']]),
  ssrfCase('private-192', 'a name resolving to 192.168.0.0/16', 'MUST', [['192.168.77.10']]),
  ssrfCase('cgnat', 'a name resolving to 100.64.0.0/10 (shared address space)', 'SHOULD', [['100.77.0.10']]),
  ssrfCase('link-local', 'a name resolving to 169.254.0.0/16', 'MUST', [['169.254.77.10']]),
  ssrfCase('metadata', 'a name resolving to the cloud metadata address 169.254.169.254', 'MUST', [['169.254.169.254']]),
  ssrfCase('ula-v6', 'a name resolving to a unique-local IPv6 address (fd00::/8)', 'MUST', [['fd77::10']]),
  ssrfCase('mapped-v6', 'a name resolving to IPv4-mapped ::ffff:10.77.0.11', 'MUST', [['::ffff:10.77.0.11']]),
  // Refusing outright is this kit's policy (a server that dials only the public answer is not exploitable).
  ssrfCase('mixed-answers', 'a name resolving to a public and a private address is refused outright', 'policy', [
    ['45.77.10.11', '10.77.0.12'],
  ]),
  ssrfCase(
    'rebinding',
    'TTL-0 rebinding: public on the first answer, private on the next',
    'MUST',
    [['45.77.10.10'], ['10.77.0.13'], ['10.77.0.13']],
    { ttl: 0, judge: 'no-connection' },
  ),
];
