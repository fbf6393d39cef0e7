/**
 * Discovery self-check: does what the server publishes let CIMD clients use CIMD?
 *
 * Claude, Codex and opencode present their client metadata document URL only when discovery has both
 * `client_id_metadata_document_supported: true` and `none` in `token_endpoint_auth_methods_supported`; otherwise
 * they fall back to Dynamic Client Registration without a word (or fail, where DCR is off). A proxy that rewrites
 * discovery, a `discovery` override or a `clientAuthMethods` list without `none` all cause it, and nothing in the
 * provider notices. So the check reads the two documents a client reads (RFC 8414
 * `/.well-known/oauth-authorization-server` and OpenID `/.well-known/openid-configuration`), from the provider
 * itself or from the deployment's public URL, and names the clients affected.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Provider } from 'oidc-provider';
import { adviseClients, type ClientAdvice } from '../rules/client-advice.js';

export const DISCOVERY_DOCUMENTS = [
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
] as const;
export type DiscoveryDocument = (typeof DISCOVERY_DOCUMENTS)[number];

/** Clients that use CIMD only when discovery carries both the flag and `none`, and otherwise fall back to DCR. */
export const CIMD_CONDITIONAL_CLIENTS: readonly string[] = Object.freeze(['Claude', 'Codex', 'opencode']);

export type DiscoveryProblemId =
  | 'unreadable'
  | 'flag_missing'
  | 'none_missing'
  | 's256_missing'
  /** CIMD is off, yet discovery says it is supported: clients will try it and fail. */
  | 'flag_without_cimd';

export interface DiscoveryProblem {
  document: DiscoveryDocument;
  id: DiscoveryProblemId;
  message: string;
}

export interface DiscoveryReport {
  ok: boolean;
  problems: DiscoveryProblem[];
  /** One paragraph for a log or a warning; undefined when ok. */
  message: string | undefined;
  /**
   * For every client of the known-clients catalog, what it will do with this server: the id it will present,
   * its authentication method, what will fail, each with its source (rules/client-advice.ts; `cimd advise`
   * prints the same). From the first readable document; empty when CIMD is off or nothing could be read.
   */
  advice: ClientAdvice[];
}

export type DiscoveryCheckMode = 'warn' | 'error' | 'off';

/** Fetches a discovery document (path relative to the issuer's mount) as parsed JSON. */
export type DiscoveryReader = (path: DiscoveryDocument) => Promise<unknown>;

const strings = (value: unknown): string[] | undefined =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;

/** Checks the two documents; pure, for any reader. */
export async function checkDiscoveryDocuments(read: DiscoveryReader, cimdEnabled: boolean): Promise<DiscoveryReport> {
  const problems: DiscoveryProblem[] = [];
  let advised: Record<string, unknown> | undefined;
  for (const document of DISCOVERY_DOCUMENTS) {
    let body: unknown;
    try {
      body = await read(document);
    } catch (error) {
      problems.push({
        document,
        id: 'unreadable',
        message: `${document} could not be read: ${(error as Error).message}`,
      });
      continue;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      problems.push({ document, id: 'unreadable', message: `${document} is not a JSON object` });
      continue;
    }
    const metadata = body as Record<string, unknown>;
    advised ??= metadata;
    const flag = metadata.client_id_metadata_document_supported;
    if (!cimdEnabled) {
      if (flag === true) {
        problems.push({
          document,
          id: 'flag_without_cimd',
          message: `${document} says client_id_metadata_document_supported: true, but CIMD is disabled: CIMD clients will try it and fail`,
        });
      }
      continue;
    }
    // The MCP authorization spec and draft -03 §3 want a JSON boolean; the string "true" does not count.
    if (flag !== true) {
      problems.push({
        document,
        id: 'flag_missing',
        message: `${document} lacks "client_id_metadata_document_supported": true (found ${flag === undefined ? 'nothing' : JSON.stringify(flag)})`,
      });
    }
    if (!strings(metadata.token_endpoint_auth_methods_supported)?.includes('none')) {
      problems.push({
        document,
        id: 'none_missing',
        message: `${document} lacks "none" in token_endpoint_auth_methods_supported`,
      });
    }
    if (!strings(metadata.code_challenge_methods_supported)?.includes('S256')) {
      problems.push({
        document,
        id: 's256_missing',
        message: `${document} lacks "S256" in code_challenge_methods_supported (MCP clients require PKCE with S256)`,
      });
    }
  }
  const advice = cimdEnabled && advised ? adviseClients(advised) : [];
  if (problems.length === 0) return { ok: true, problems, message: undefined, advice };
  const fallsBack = problems.some((p) => p.id === 'flag_missing' || p.id === 'none_missing' || p.id === 'unreadable');
  const message = [
    'oidc-provider-cimd: discovery self-check failed:',
    ...problems.map((p) => `- ${p.message}`),
    ...(fallsBack
      ? [
          `${CIMD_CONDITIONAL_CLIENTS.join(', ')} will not use CIMD with this server: they use it only when discovery has both client_id_metadata_document_supported: true and "none" in token_endpoint_auth_methods_supported, and otherwise fall back to Dynamic Client Registration silently (or fail where DCR is off).`,
        ]
      : []),
    ...advice
      .filter((client) => client.outcome !== 'cimd')
      .map(
        (client) =>
          `- ${client.client}: ${client.outcome === 'dcr' ? 'Dynamic Client Registration' : 'cannot sign in'} (${client.problems.find((p) => p.severity === 'fail')?.message ?? ''})`,
      ),
  ].join('\n');
  return { ok: false, problems, message, advice };
}

async function getJson(url: URL): Promise<unknown> {
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`status ${response.status}`);
  }
  return response.json();
}

/**
 * Reads the documents from the provider itself (served on a short-lived loopback listener, closed before this
 * resolves), or from a URL: the issuer, or the public origin it is served under (to check what clients really
 * receive through proxies).
 */
export async function readDiscoveryFrom(
  target: Provider | string | URL,
): Promise<{ read: DiscoveryReader; close(): Promise<void> }> {
  if (typeof target === 'string' || target instanceof URL) {
    const base = URL.parse(String(target));
    if (!base || (base.protocol !== 'https:' && base.protocol !== 'http:')) {
      throw new TypeError(
        `oidc-provider-cimd: selfCheck needs a provider or an http(s) URL, got ${JSON.stringify(String(target))}`,
      );
    }
    // RFC 8414 §3.1 inserts the well-known segment before an issuer's path; OpenID appends it.
    const path = base.pathname === '/' ? '' : base.pathname.replace(/\/$/, '');
    return {
      read: (document) =>
        getJson(
          document === '/.well-known/oauth-authorization-server'
            ? new URL(`${document}${path}`, base.origin)
            : new URL(`${path}${document}`, base.origin),
        ),
      close: async () => {},
    };
  }
  if (typeof (target as Provider)?.callback !== 'function') {
    throw new TypeError('oidc-provider-cimd: selfCheck needs an oidc-provider Provider instance or a URL');
  }
  const server = http.createServer(target.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    read: (document) => getJson(new URL(document, `http://127.0.0.1:${port}`)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function runDiscoveryCheck(
  target: Provider | string | URL,
  options: { cimdEnabled: boolean; mode: DiscoveryCheckMode; warn?: (message: string) => void },
): Promise<DiscoveryReport> {
  if (options.mode !== 'warn' && options.mode !== 'error' && options.mode !== 'off') {
    throw new TypeError(
      `oidc-provider-cimd: discoveryCheck must be 'warn', 'error' or 'off', got ${JSON.stringify(options.mode)}`,
    );
  }
  if (options.mode === 'off') return { ok: true, problems: [], message: undefined, advice: [] };
  const source = await readDiscoveryFrom(target);
  let report: DiscoveryReport;
  try {
    report = await checkDiscoveryDocuments(source.read, options.cimdEnabled);
  } finally {
    await source.close();
  }
  if (!report.ok && report.message) {
    if (options.mode === 'error') throw new Error(report.message);
    if (options.warn) options.warn(report.message);
    else process.emitWarning(report.message, { code: 'CIMD_DISCOVERY' });
  }
  return report;
}
