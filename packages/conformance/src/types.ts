/** The kit's vocabulary: cases, their levels and families, and what a run reports. */

/** How strongly the cited text asks for the behaviour. Only MUST failures make the run fail. */
export type Level = 'MUST' | 'SHOULD' | 'policy' | 'info';

export const FAMILIES = [
  'discovery',
  'client-id-url',
  'fetch',
  'document',
  'redirect-uri',
  'caching',
  'client-auth',
  'ssrf',
] as const;
export type Family = (typeof FAMILIES)[number];

export type Mode = 'dev' | 'netns';

export type Status = 'pass' | 'fail' | 'not-run';

/** How the kit read an answer of the authorization endpoint. */
export type AuthorizeKind =
  /** A 4xx error page from the server itself. */
  | 'refused'
  /** On to the server's login, consent or interaction (a redirect elsewhere than the client, or a 200 page). */
  | 'accepted'
  /** A redirect to the requested redirect_uri carrying `error`: a violation whenever the client was not validated. */
  | 'redirect-error'
  /** A redirect to the requested redirect_uri carrying a code (no user took part: unusual, counted as accepted). */
  | 'redirect-code'
  /** A 5xx answer. */
  | 'server-error'
  /** No HTTP answer at all (connection refused, reset, timeout). */
  | 'no-answer';

export interface Exchange {
  label: string;
  request: { method: string; url: string; body?: string };
  response?: { status: number; location?: string; contentType?: string; body: string };
  error?: string;
  /** The kit's reading of the answer (authorization endpoint: an AuthorizeKind; token endpoint: the error code). */
  reading?: string;
  ms: number;
}

export interface CaseVerdict {
  pass: boolean;
  /** One line: what was expected and what was seen. */
  detail: string;
}

export interface CaseContextBase {
  readonly mode: Mode;
}

export interface CaseResult {
  id: string;
  family: Family;
  title: string;
  level: Level;
  cite: string;
  status: Status;
  detail: string;
  /** Requests the document host received on this case's paths. */
  fetches?: number;
  exchanges: Exchange[];
  ms: number;
}

export interface RunReport {
  tool: { name: 'cimd-conformance'; version: string };
  issuer: string;
  mode: Mode;
  startedAt: string;
  finishedAt: string;
  /** What the server under test says it is, when known (set by launchers). */
  server?: string;
  results: CaseResult[];
  summary: {
    total: number;
    pass: number;
    fail: number;
    notRun: number;
    mustFailed: number;
  };
}
