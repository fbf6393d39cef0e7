/** The case model and the judgements most cases share. */
import type { AuthorizeAnswer, CaseContext } from '../context.js';
import { respond } from '../doc-host.js';
import type { CaseVerdict, Family, Level, Mode } from '../types.js';

export interface CaseDef {
  /** Stable id, `<family>.<name>`. */
  id: string;
  family: Family;
  title: string;
  level: Level;
  /** Where the expectation comes from: `CIMD -03 §3`, `RFC 9700 §2.1`, `MCP 2025-11-25 authorization` … */
  cite: string;
  /** Modes the case runs in (default: both). */
  modes?: Mode[];
  /** Why the case does not run in the other mode. */
  notRunReason?: string;
  /**
   * `expiry`: the case waits for a cache lifetime to pass between two phases (all such cases run side by side);
   * `slow`: the case holds a server fetch open for seconds (run one at a time).
   */
  schedule?: 'normal' | 'slow' | 'expiry';
  run(ctx: CaseContext): Promise<CaseVerdict>;
}

export function describe(answer: AuthorizeAnswer): string {
  const parts = [`${answer.kind} (HTTP ${answer.status || 'none'}`];
  if (answer.error) parts.push(`, ${answer.error}`);
  parts.push(')');
  return parts.join('');
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export type FetchExpectation = 'none' | 'any' | 'some';

/** Refused at the authorization endpoint with an error page; `fetch` says whether the document host may be asked. */
export function judgeRefused(answer: AuthorizeAnswer, fetches: number, fetch: FetchExpectation = 'any'): CaseVerdict {
  if (answer.kind === 'redirect-error') {
    return {
      pass: false,
      detail: `redirected to the unvalidated client's redirect_uri with error=${answer.error} (must be an error page at the server)`,
    };
  }
  if (answer.kind !== 'refused') return { pass: false, detail: `expected refused, got ${describe(answer)}` };
  if (fetch === 'none' && fetches > 0) {
    return {
      pass: false,
      detail: `refused, but only after ${plural(fetches, 'fetch')} (must be refused before any network activity)`,
    };
  }
  if (fetch === 'some' && fetches === 0) return { pass: false, detail: 'refused without fetching the document' };
  return { pass: true, detail: `refused, ${plural(fetches, 'fetch')}` };
}

export function judgeAccepted(answer: AuthorizeAnswer, fetches: number): CaseVerdict {
  if (answer.kind === 'accepted' || answer.kind === 'redirect-code') {
    return { pass: true, detail: `accepted, ${plural(fetches, 'fetch')}` };
  }
  return { pass: false, detail: `expected accepted (on to login/consent), got ${describe(answer)}` };
}

/** Serves `body` as the document at `cid` and expects the authorization request to be refused after the fetch. */
export async function refuseDocument(
  ctx: CaseContext,
  build: (cid: string) => unknown,
  headers: Record<string, string> = {},
  extra: Record<string, string> = {},
): Promise<CaseVerdict> {
  const cid = ctx.cid();
  ctx.serve(cid, respond.json(build(cid), headers));
  const answer = await ctx.authorize(cid, extra);
  return judgeRefused(answer, ctx.fetches(), 'some');
}

/** Serves `body` as the document at `cid` and expects the authorization request to proceed. */
export async function acceptDocument(
  ctx: CaseContext,
  build: (cid: string) => unknown,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<CaseVerdict> {
  const cid = ctx.cid();
  ctx.serve(cid, respond.json(build(cid), headers));
  const answer = await ctx.authorize(cid, extra);
  return judgeAccepted(answer, ctx.fetches());
}
